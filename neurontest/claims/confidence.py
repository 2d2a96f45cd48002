"""How much evidence a verdict needs: the interval level and the minimum corpus positions.

* `confidence: 0.95` on a claim: its bounds must hold for the whole interval at that level (the
  lower end meets a `>=` bound, the upper end a `<=` bound). Without it, intervals are 95% and
  only reported.
* `min_positions: 20` on an activation claim (run-wide: `--neurontest-min-positions`, ini key
  `neurontest_min_positions`): a bounded metric resting on fewer positions on its own side
  (neurontest.claims.verdicts.SUPPORT) gives no verdict unless its interval lies wholly on one
  side of the bound; the claim is then inconclusive and says how to get more evidence.

The run-wide minimum comes with the run's `RunSettings` (`--neurontest-min-positions`).
"""

from __future__ import annotations

from typing import Any

from neurontest.claims.settings import RunSettings
from neurontest.measure.intervals import DEFAULT_LEVEL


def claim_confidence(settings: Any) -> tuple[float, bool]:
    """(interval level, whether bounds must hold for the whole interval) of a claim's typed
    options (the model has checked the level is in (0, 1))."""
    level = getattr(settings, "confidence", None)
    return (DEFAULT_LEVEL, False) if level is None else (float(level), True)


def claim_min_positions(options: Any, settings: RunSettings) -> int:
    """A claim's `min_positions:` from its typed options, else the run-wide minimum."""
    value = getattr(options, "min_positions", None)
    return settings.min_positions if value is None else int(value)


def too_few_positions(claimed: int, corpus_tokens: int) -> str:
    """How to get the evidence an inconclusive activation claim lacks."""
    return (f"The predicate names {claimed:,} of {corpus_tokens:,} corpus positions. Get more evidence "
            f"with a larger `corpus_tokens:` (or --neurontest-corpus-tokens), another corpus "
            f"(--neurontest-corpus) where it is more common, or an `examples` claim with "
            f"hand-written texts; or lower `min_positions:` if that is enough")
