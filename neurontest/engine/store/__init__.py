"""Where caches live, and writing files other processes read (atomic, locked, swept after killed
writers)."""
