"""How much corpus a claim needs: positions for an interval of a given half-width, and the
corpus tokens that yield them, so an inconclusive verdict can say what would settle it.

The rule is the Wilson interval's own half-width, not the normal approximation
z^2 p (1 - p) / h^2: that asks for 0 positions at a share of 0 or 1, where Wilson (correctly)
still needs some, e.g. 35 for +-0.05 at 95%. Clustered positions count less than independent
ones; `design_effect` (the variance ratio, >= 1) scales the positions up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from neurontest.measure.intervals import DEFAULT_LEVEL, normal_quantile, wilson


def _wilson_half_width(share: float, n: float, z: float) -> float:
    """Half the width of the Wilson interval of `share` on n positions (falls as n grows)."""
    return z * math.sqrt(share * (1 - share) * n + z * z / 4) / (n + z * z)


def positions_needed(share: float, half_width: float = 0.05, level: float = DEFAULT_LEVEL,
                     design_effect: float = 1.0) -> int:
    """The fewest positions whose Wilson interval at `share` is at most +-`half_width` wide at
    `level`, times `design_effect` (rounded up): found by doubling, then bisection."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"a share lies in [0, 1], not {share}")
    if half_width <= 0:
        raise ValueError(f"half_width must be positive, not {half_width}")
    if design_effect <= 0:
        raise ValueError(f"design_effect must be positive, not {design_effect}")
    z = normal_quantile(level)
    lo, hi = 0, 1  # half-width(lo) > h >= half-width(hi) once the doubling stops
    while _wilson_half_width(share, hi, z) > half_width:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _wilson_half_width(share, mid, z) > half_width:
            lo = mid
        else:
            hi = mid
    return math.ceil(design_effect * hi - 1e-9)


def design_effect(samples_var: float, binomial_var: float) -> float:
    """Variance of a share under clustering (e.g. across bootstrap resamples) over its
    binomial variance p (1 - p) / n: how many times more positions clustering costs. At least
    1, and 1 when the binomial variance is 0 or either is not finite."""
    if not (math.isfinite(samples_var) and math.isfinite(binomial_var)) or binomial_var <= 0:
        return 1.0
    return max(1.0, samples_var / binomial_var)


def tokens_needed(positions: int, rate: float) -> int | None:
    """Corpus tokens that yield `positions` at `rate` positions per token (rounded up); None
    when the rate is 0: no amount of this corpus would do."""
    if rate <= 0:
        return None
    return math.ceil(round(positions / rate, 9))


def _about(n: int) -> str:
    """n to two significant figures, with thousands separators: 3,117 -> "3,100"."""
    if n < 100:
        return f"{n:,}"
    return f"{round(n, 2 - len(str(n))):,}"


@dataclass(frozen=True)
class PowerEstimate:
    """A metric's precision now and the positions (and corpus tokens) a target half-width needs."""

    metric: str
    value: float
    half_width_now: float
    positions_now: int
    positions_needed: int
    tokens_needed: int | None
    target_half_width: float = 0.05
    unit: str = "claimed positions"

    def describe(self) -> str:
        """One line: "recall = 0.122 +- 0.008 on 5,547 claimed positions; +-0.05 needs 168
        (about 3,100 corpus tokens at this rate)"."""
        line = (f"{self.metric} = {self.value:.3f} +- {self.half_width_now:.3f} on "
                f"{self.positions_now:,} {self.unit}; +-{self.target_half_width:g} needs "
                f"{self.positions_needed:,}")
        if self.tokens_needed is None:
            return line
        return line + f" (about {_about(self.tokens_needed)} corpus tokens at this rate)"


def estimate_power(metric: str, k: float, n: int, *, rate: float | None = None,
                   half_width: float = 0.05, level: float = DEFAULT_LEVEL,
                   design_effect: float = 1.0, unit: str = "claimed positions") -> PowerEstimate:
    """The `PowerEstimate` of a share k of n, where `rate` is `unit` per corpus token. With no
    positions yet the share is taken as 0.5, the case that needs the most."""
    share = k / n if n > 0 else 0.5
    lo, hi = wilson(k, n, level)
    needed = positions_needed(share, half_width, level, design_effect)
    return PowerEstimate(
        metric=metric, value=share, half_width_now=(hi - lo) / 2 * math.sqrt(max(design_effect, 1.0)),
        positions_now=int(n), positions_needed=needed,
        tokens_needed=tokens_needed(needed, rate) if rate is not None else None,
        target_half_width=half_width, unit=unit,
    )
