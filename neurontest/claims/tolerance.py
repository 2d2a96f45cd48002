"""How far a claim's metric may drift from its recorded baseline: the `tolerance:` option.

Part of the claim format (a claim may set it), read by the pytest layer's baselines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Metrics on a fixed [0, 1] (or [-1, 1]) scale get an absolute tolerance; others a relative one.
BOUNDED_METRICS = frozenset({
    "precision", "recall", "f1", "iou", "auprc", "pearson", "variance_explained",
    "balanced_accuracy", "share", "trigger_share", "retained_share", "trigger_kept",
})
DEFAULT_ABS = 0.02
DEFAULT_REL = 0.05
# Relative tolerances get a small absolute floor: a metric near 0 would otherwise drift on noise.
DEFAULT_REL_FLOOR = 1e-3


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may move from its baseline: `abs + rel * |baseline|`."""

    abs: float
    rel: float = 0.0

    def allows(self, old: float | None, new: float | None) -> bool:
        if old is None or new is None:  # NaN is stored as null: only null matches null
            return old is None and new is None
        return abs(new - old) <= self.abs + self.rel * abs(old) + 1e-12

    def to_json(self) -> dict[str, float]:
        return {"abs": self.abs, "rel": self.rel}

    def __str__(self) -> str:
        if not self.rel:
            return f"{self.abs:g}"
        return f"{self.rel:.0%} + {self.abs:g}" if self.abs else f"{self.rel:.0%}"


def default_tolerance(metric: str) -> Tolerance:
    if metric in BOUNDED_METRICS:
        return Tolerance(DEFAULT_ABS)
    return Tolerance(DEFAULT_REL_FLOOR, DEFAULT_REL)


def one_tolerance(value: Any, where: str) -> Tolerance:
    if isinstance(value, bool):
        raise ValueError(f"{where} must be a number >= 0 or {{abs: ..., rel: ...}}")
    if isinstance(value, (int, float)) and value >= 0:
        return Tolerance(float(value))
    if isinstance(value, dict) and value and set(value) <= {"abs", "rel"} and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value.values()):
        return Tolerance(float(value.get("abs", 0.0)), float(value.get("rel", 0.0)))
    raise ValueError(f"{where} must be a number >= 0 (absolute) or {{abs: ..., rel: ...}}, got {value!r}")


def parse_tolerance(raw: Any) -> dict[str, Tolerance]:
    """A claim's `tolerance:` option: one number for every metric (key "*"), or per metric."""
    if isinstance(raw, dict) and not set(raw) <= {"abs", "rel"}:
        return {str(k): one_tolerance(v, f"tolerance for {k!r}") for k, v in raw.items()}
    return {"*": one_tolerance(raw, "`tolerance:`")}
