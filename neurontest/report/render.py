"""Rendering report contexts with the package's Jinja2 templates, and atomic writing."""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_run_report(state: RunState, path: Path) -> Path:
    """Render the session's report and write it atomically to `path` (returned)."""
    from neurontest.report.context import build_report_context

    # Render fully before touching the disk: a failing render leaves the previous report.
    html = render_report(build_report_context(state))
    return write_atomic(Path(path), html)
