"""Rendering report contexts with the package's Jinja2 templates, and atomic writing."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurontest.engine.store import files
from neurontest.report.context import build_report_context
from neurontest.report.svg import heat_css, legend_gradient

if TYPE_CHECKING:
    import jinja2

    from neurontest.report.records import RunState


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja2 environment over `neurontest/templates` (autoescaping on)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("neurontest", "templates"),
        autoescape=True,  # every template is HTML; tokens and messages are untrusted text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(heat_css=heat_css(), legend_gradient=legend_gradient())
    return env


def render(template: str, **context: Any) -> str:
    """Render one template of `neurontest/templates` with `context`."""
    return environment().get_template(template).render(**context)


def render_report(context: dict[str, Any]) -> str:
    """The run report page for a `build_report_context` dict."""
    return render("report.html.j2", **context)


def write_atomic(path: Path, text: str) -> Path:
    """Write `text` to `path` via a temporary file in the same folder and `os.replace`, so a
    reader (or a crash) never sees half a file; creates the parent folder."""
    return files.write_atomic(path, text, durable=True, clean_leftovers=True)


def write_run_report(state: RunState, path: Path) -> Path:
    """Render the session's report and write it atomically to `path` (returned)."""
    # Render fully before touching the disk: a failing render leaves the previous report.
    html = render_report(build_report_context(state))
    return write_atomic(Path(path), html)
