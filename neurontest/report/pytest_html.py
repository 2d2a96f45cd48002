"""Attach a claim's heatmaps and histogram to its row of a pytest-html report, if installed.

Without pytest-html every function here returns an empty list, so nothing else depends on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neurontest.report.context import record_context
from neurontest.report.render import render

if TYPE_CHECKING:
    from neurontest.report.records import ClaimRecord


def fragment_for(record: ClaimRecord, *, histogram: dict[str, Any] | None = None) -> str:
    """The claim's evidence as a standalone HTML fragment (its own scoped <style>)."""
    return render("claim_fragment.html.j2", c=record_context(record, 0, histogram=histogram))


def extras_for(record: ClaimRecord) -> list[Any]:
    """pytest-html extras for one claim: its evidence HTML, or [] (no result, no pytest-html)."""
    if record.result is None:
        return []
    try:
        from pytest_html import extras
    except ImportError:
        return []
    return [extras.html(fragment_for(record))]
