"""Claims x checkpoints: one row per claim, one column per model, each cell its outcome and
headline metric. Pure functions over session records (or their dict form), for the HTML report,
docs/checkpoints.md and scripts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple

_SUFFIX = re.compile(r"\[[^\[\]]*\]$")


@dataclass(frozen=True)
class Cell:
    """One claim on one model: pytest outcome, and the headline metric's name and value."""

    outcome: str
    metric: str | None = None
    value: float | None = None

    def __str__(self) -> str:
        if self.value is None:
            return self.outcome
        return f"{self.outcome} ({self.metric} {self.value:.3g})"


class ClaimsMatrix(NamedTuple):
    """`rows`: claim ids without the model suffix (file order); `columns`: model labels (first
    seen first); `cells[(row, column)]`: a Cell, absent where a claim did not run on a model."""

    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]


def headline(result: Any) -> tuple[str, float] | None:
    """The metric a claim is judged by: its first failing bound, else its first bounded
    measurement, else its first measurement."""
    measurements = list(getattr(result, "measurements", None) or [])
    if not measurements:
        return None
    bounded = [m for m in measurements if m.bound is not None]
    chosen = next((m for m in bounded if not m.passed), bounded[0] if bounded else measurements[0])
    return chosen.name, float(chosen.value)


def _field(record: Any, name: str, default: Any = None) -> Any:
    if isinstance(record, dict):
        return record.get(name, default)
    return getattr(record, name, default)


def claims_matrix(records: Iterable[Any]) -> ClaimsMatrix:
    """Build the matrix from `ClaimRecord`s (session.records.values()) or dicts with the same
    keys (`nodeid`, `outcome`, `model`, optional `claim_id`, `result`, `lab`, `headline`).

    A record's row is `<file>::<claim_id>`, or its node id without a trailing `[model]`; its
    column is `record.model`, else the model name in `record.lab`.
    """
    rows: list[str] = []
    columns: list[str] = []
    cells: dict[tuple[str, str], Cell] = {}
    for record in records:
        nodeid = str(_field(record, "nodeid", ""))
        claim_id = _field(record, "claim_id")
        if claim_id:
            row = f"{nodeid.split('::', 1)[0]}::{claim_id}"
        else:
            row = _SUFFIX.sub("", nodeid)
        column = _field(record, "model") or ((_field(record, "lab") or {}).get("model") or {}).get("name") or "-"
        given = _field(record, "headline")
        top = tuple(given) if given else headline(_field(record, "result"))
        if row not in rows:
            rows.append(row)
        if column not in columns:
            columns.append(column)
        cells[(row, column)] = Cell(str(_field(record, "outcome", "pending")),
                                    *(top if top else (None, None)))
    return ClaimsMatrix(rows, columns, cells)


def matrix_markdown(matrix: ClaimsMatrix, *, strip_prefix: str = "") -> str:
    """A Markdown table of the matrix (rows lose `strip_prefix`, e.g. `hypotheses/`)."""
    rows, columns, cells = matrix
    lines = ["| claim | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        shown = row[len(strip_prefix):] if strip_prefix and row.startswith(strip_prefix) else row
        values = [str(cells[(row, c)]) if (row, c) in cells else "" for c in columns]
        lines.append(f"| `{shown}` | " + " | ".join(values) + " |")
    return "\n".join(lines)
