"""`neurontest bench`: the library's costs measured against the seed notebook's loops.

`run` (the command: sections, table, JSON), `timing` (how a figure is measured), `cases` (one
function per section), `seed` (the notebook's own loops, as the reference), `suite` (whole pytest
runs of the example suite in child processes).

May import: anything below the pytest layer (engine, measure, lab, claims); it runs pytest only
as a child process.
"""
