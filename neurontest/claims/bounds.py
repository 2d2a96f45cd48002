"""The forms a claim's numbers take in a hypothesis file: bounds (`>= 0.7`) and firing
thresholds (`1.0` or `{relative: 0.25}`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

_BOUND = re.compile(r"^\s*(>=|<=|>|<|==)\s*(-?\d+(?:\.\d*)?(?:[eE]-?\d+)?)\s*$")


@dataclass(frozen=True)
class Bound:
    """`>= 0.7`-style bound on a measured value."""

    op: str
    value: float

    @classmethod
    def parse(cls, text: Any) -> Bound:
        if isinstance(text, Bound):
            return text
        match = _BOUND.match(str(text))
        if not match:
            raise ValueError(f"bound {text!r} is not of the form '>= 0.7' (ops: >= <= > < ==)")
        value = float(match.group(2))
        if not math.isfinite(value):
            raise ValueError(f"bound {text!r} is not a finite number; give e.g. '>= 0.7'")
        return cls(match.group(1), value)

    def holds(self, x: float) -> bool:
        return {
            ">=": x >= self.value, "<=": x <= self.value, ">": x > self.value,
            "<": x < self.value, "==": abs(x - self.value) <= 1e-9,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass(frozen=True)
class Threshold:
    """Firing threshold tau: absolute, or relative to the neuron's max over the corpus."""

    value: float
    relative: bool = False

    @classmethod
    def parse(cls, data: Any) -> Threshold:
        if data is None:
            return DEFAULT_THRESHOLD
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            if not math.isfinite(data):
                raise ValueError(f"threshold {data!r} is not a finite number; give e.g. 1.0")
            return cls(float(data))
        if isinstance(data, dict) and set(data) == {"relative"}:
            share = data["relative"]
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
                raise ValueError("threshold `relative:` is a share of the max, in (0, 1]")
            return cls(share, relative=True)
        raise ValueError("threshold is a number (absolute) or {relative: 0.25} (share of the corpus max)")

    def describe(self) -> str:
        return f"{self.value:g} x corpus max" if self.relative else f"{self.value:g}"


# MLP neurons with SiLU/GELU are dense (small non-zero values everywhere), so SAEBench's 1% of max
# counts noise as firing; a quarter of the max keeps only clear activations. Always reported.
DEFAULT_THRESHOLD = Threshold(0.25, relative=True)
