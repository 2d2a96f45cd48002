"""One word per claim outcome, from pytest's per-phase reports."""

from __future__ import annotations

from typing import Any


def outcome_of(report: Any) -> str | None:
    """passed / failed / error / skipped / xfailed / xpassed, or None for a phase that says
    nothing new (a passing setup or teardown)."""
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if report.skipped:
            return "xfailed" if xfail else "skipped"
        if report.passed:
            return "xpassed" if xfail else "passed"
        return "failed"
    if report.failed:
        return "error"
    if report.skipped and report.when == "setup":
        return "xfailed" if xfail else "skipped"
    return None
