"""The self-contained HTML report of a neurontest run (no network resources, inline CSS/JS/SVG).

`build_report_context` turns a run's records (`records.py`) into plain data (context.py),
`write_run_report` renders it with the package templates and writes it atomically (render.py);
`matrix` tabulates claims x checkpoints; `pytest_html` attaches the same heatmaps to pytest-html.

May import: `neurontest.claims` and everything below it; never the pytest layer (a report can be
built from records without pytest).
"""

from neurontest.report.context import build_report_context
from neurontest.report.render import write_run_report

__all__ = ["build_report_context", "write_run_report"]
