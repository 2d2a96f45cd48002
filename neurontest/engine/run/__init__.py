"""Forward passes: mining unit columns over a corpus (locally or on Ray actors), attention mass and
layer scans in the same pass, and cheap runs of many variants of one text."""
