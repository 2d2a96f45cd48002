"""Where a run's report goes: the path a user named, or one file per selection by default.

Default (no `--neurontest-report`): a run over whole folders (`pytest`, `pytest hypotheses/`)
writes `reports/neurontest.html`; a run over files, node ids or with `-k`/`-m` writes
`reports/neurontest-<selection>.html`, so running one file never overwrites the suite's report
and the last report of each distinct selection is kept. An explicit path is used as given; one
ending in `/` names a folder, which gets the default file name. An existing folder named without
the slash, or a path under a file, is refused before the run (`check_report_path`); a write that
fails at the end (read-only folder, full disk) is one line in the summary (`write_failure`).

Everything here is pure path logic plus `check_report_path`, which only inspects the disk.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Sequence

from neurontest.errors import ReportPathError

DEFAULT_FOLDER = "reports"
DEFAULT_NAME = "neurontest.html"
_MAX_SLUG = 60


def selection_name(args: Sequence[str], rootpath: Path, *, keyword: str = "",
                   markexpr: str = "") -> str:
    """`neurontest.html` for whole folders without -k/-m, else `neurontest-<selection>.html`."""
    parts: list[str] = []
    whole_folders = True
    for arg in args:
        path_part = arg.split("::", 1)[0]
        target = Path(path_part) if Path(path_part).is_absolute() else rootpath / path_part
        if "::" in arg or not target.is_dir():
            whole_folders = False
        try:
            shown = os.path.relpath(target, rootpath) + (arg[len(path_part):] if "::" in arg else "")
        except ValueError:  # another drive (Windows)
            shown = arg
        parts.append(Path(shown).stem if not target.is_dir() and "::" not in arg else shown)
    if keyword:
        parts += ["k", keyword]
    if markexpr:
        parts += ["m", markexpr]
    if whole_folders and not keyword and not markexpr:
        return DEFAULT_NAME
    raw = "-".join(parts)
    slug = re.sub(r"[^A-Za-z0-9_.]+", "-", raw).strip("-.")
    if len(slug) > _MAX_SLUG or slug != raw.replace("/", "-"):
        # Long or lossy: keep a readable prefix and make it unique with a short hash.
        digest = hashlib.sha1(raw.encode("utf-8")).hexdigest()[:8]
        slug = f"{slug[:_MAX_SLUG].rstrip('-.')}-{digest}"
    return f"neurontest-{slug or 'selection'}.html"


def resolve_report_path(option: str | None, rootpath: Path, name: str) -> Path | None:
    """The report file for `--neurontest-report` (None: `none`), `name` when it names a folder."""
    if option is not None and option.strip().lower() == "none":
        return None
    if option is None or option == "":
        return rootpath / DEFAULT_FOLDER / name
    folder = option.endswith(("/", os.sep))
    path = Path(option).expanduser()
    path = path if path.is_absolute() else rootpath / path
    return path / name if folder else path


def check_report_path(path: Path, option: str | None) -> None:
    """Raise ReportPathError when `path` cannot be a report file: a folder, or under a file."""
    flag = f"--neurontest-report {option}" if option else "the report path"
    if path.is_dir():
        raise ReportPathError(f"{flag}: {path} is a folder; end the path with / to write "
                              f"{path / DEFAULT_NAME} there, or name an .html file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ReportPathError(f"{flag}: {parent} is a file, so {path} cannot be created "
                                      "under it; choose another report path")
            break


def write_failure(path: Path, exc: OSError) -> str:
    """One line for a report that could not be written (read-only folder, full disk, ...)."""
    reason = exc.strerror or type(exc).__name__
    where = exc.filename or path
    return (f"report NOT written: {reason}: {where}; choose a writable path with "
            "--neurontest-report PATH (or 'none')")
