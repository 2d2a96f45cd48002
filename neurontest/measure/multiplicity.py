"""Adjusted p-values for a suite of claims, so that many claims do not pass by chance.

With 90 claims tested at 0.05, about four true nulls pass by luck. Each claim contributes one
one-sided p-value (`intervals.bootstrap_p_value`, `wilson_p_value`, `t_p_value`); these
functions adjust them together, and a claim passes when its adjusted p-value is at most alpha.

* Holm (step-down): controls the family-wise error, the chance of even one false pass. Use it
  when any false pass is costly, e.g. a suite that gates a release.
* Benjamini-Hochberg (step-up): controls the false discovery rate, the expected share of false
  passes among the passes. Use it for large exploratory suites, where a few false passes are
  acceptable and Holm would pass almost nothing.

Adjusted p-values come back in input order and do not depend on it.
"""

from __future__ import annotations

from typing import Sequence

METHODS = ("none", "holm", "bh")


def _checked(p_values: Sequence[float]) -> list[float]:
    values = [float(p) for p in p_values]
    bad = [p for p in values if not 0.0 <= p <= 1.0]  # NaN fails both comparisons
    if bad:
        raise ValueError(f"p-values must lie in [0, 1]; got {bad[0]!r}")
    return values


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: the i-th smallest of m p-values times (m - i + 1), made
    non-decreasing along the sorted order (running max) and capped at 1."""
    values = _checked(p_values)
    m = len(values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=values.__getitem__)):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg's step-up adjustment: the i-th smallest of m p-values times m / i,
    made non-decreasing by a running min from the largest down, and capped at 1."""
    values = _checked(p_values)
    m = len(values)
    adjusted = [0.0] * m
    running = 1.0
    order = sorted(range(m), key=values.__getitem__)
    for rank in range(m, 0, -1):
        index = order[rank - 1]
        running = min(running, m / rank * values[index])
        adjusted[index] = running
    return adjusted


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Adjusted p-values by `method`: "none" (as given), "holm" or "bh" (Benjamini-Hochberg)."""
    if method == "none":
        return _checked(p_values)
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    raise ValueError(f"unknown multiplicity method {method!r}; use one of {', '.join(METHODS)}")
