"""How much evidence a verdict needs: the interval level and the minimum corpus positions.

* `confidence: 0.95` on a claim: its bounds must hold for the whole interval at that level (the
  lower end meets a `>=` bound, the upper end a `<=` bound). Without it, intervals are 95% and
  only reported.
* `min_positions: 20` on an activation claim (run-wide: `--neurontest-min-positions`, ini key
  `neurontest_min_positions`): a predicate naming fewer corpus positions gives no verdict; the
  claim fails as inconclusive and says how to get more evidence.

The pytest plugin pushes the run-wide minimum at configure time and pops it at unconfigure
(nested pytester runs share one process); from Python, call `push_min_positions` yourself.
"""

from __future__ import annotations

from typing import Any

from neurontest.measure.intervals import DEFAULT_LEVEL

DEFAULT_MIN_POSITIONS = 20

_STACK: list[int] = [DEFAULT_MIN_POSITIONS]


def push_min_positions(value: int | None) -> int:
    """Make `value` the run-wide minimum (None keeps the current one); ValueError if negative."""
    if value is not None and value < 0:
        raise ValueError(f"--neurontest-min-positions must be 0 or more, got {value}")
    _STACK.append(_STACK[-1] if value is None else int(value))
    return _STACK[-1]


def pop_min_positions() -> int:
    """Drop the minimum pushed last (the built-in default always stays)."""
    if len(_STACK) > 1:
        _STACK.pop()
    return _STACK[-1]


def run_min_positions() -> int:
    """The run-wide minimum number of claimed corpus positions."""
    return _STACK[-1]


def claim_confidence(settings: Any) -> tuple[float, bool]:
    """(interval level, whether bounds must hold for the whole interval) of a claim's typed
    options (the model has checked the level is in (0, 1))."""
    level = getattr(settings, "confidence", None)
    return (DEFAULT_LEVEL, False) if level is None else (float(level), True)


def claim_min_positions(settings: Any) -> int:
    """A claim's `min_positions:` from its typed options, else the run-wide minimum."""
    value = getattr(settings, "min_positions", None)
    return run_min_positions() if value is None else int(value)


def too_few_positions(found: int, needed: int, corpus_tokens: int) -> str:
    """The inconclusive verdict's message: how many positions there were and how to get more."""
    return (f"inconclusive: the predicate names {found} corpus position{'s' if found != 1 else ''} "
            f"of {corpus_tokens:,}, fewer than the {needed} a verdict needs. Get more evidence "
            f"with a larger `corpus_tokens:` (or --neurontest-corpus-tokens), another corpus "
            f"(--neurontest-corpus) where it is more common, or an `examples` claim with "
            f"hand-written texts; or lower `min_positions:` if {found} is enough")
