"""The self-contained HTML report of a neurontest run (no network resources, inline CSS/JS/SVG).

`build_report_context` turns the session into plain data (context.py), `write_run_report`
renders it with the package templates and writes it atomically (render.py).
"""

from neurontest.report.context import build_report_context
from neurontest.report.render import write_run_report

__all__ = ["build_report_context", "write_run_report"]
