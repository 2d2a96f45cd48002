"""Drawing with Hypothesis, reproducibly from a seed: the templated counterfactual pairs of the
causal kinds, and what the perturbation kinds' search shares with them.

    pairs = template_pairs(["We met on {day} [[{month}]]"],
                           {"day": ["3", "12"], "month": {"clean": ["March"], "corrupt": ["Friday"]}})
    drawn = seeded_draws(pairs, 20, seed=0)          # the same 20 draws on every run
    simplest = seeded_shrink(pairs, breaks, 20, seed=0)   # the first failure, shrunk

`template_pairs` is built from small named pieces (`slot_values` for each slot, then the template), as
`neurontest.perturb.strategies` builds texts: Hypothesis shrinks a pair towards the first
template and the first value of each slot, so put the most natural ones first.

Imports Hypothesis: import this module where a draw happens, not where options are validated.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import seed as fixed_seed
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from neurontest.claims.templates import FilledPair, PairedSlot, parse_slot, template_slots

T = TypeVar("T")


@contextmanager
def global_constants_only() -> Iterator[None]:
    """Hypothesis mixes literals found in the source of "local" modules (anything outside
    site-packages) into the data it draws. Which modules count depends on how neurontest was
    installed (editable or not) and on what else the process imported, so a seeded claim drew
    other texts after an unrelated code change or in another checkout. Draw from Hypothesis'
    built-in constants only. (Private API: without it, runs are merely less reproducible.)"""
    try:
        from hypothesis.internal.conjecture import providers

        original, cache = providers._get_local_constants, providers.CONSTANTS_CACHE
        empty = providers.Constants()
    except (ImportError, AttributeError):
        yield
        return
    providers._get_local_constants = lambda: empty
    cache.cache.clear()  # permitted constants are cached per choice type, local ones included
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.cache.clear()


# -- templated counterfactual pairs -------------------------------------------------------------
def slot_values(slot: Sequence[str] | Mapping[str, Sequence[str]] | PairedSlot
                ) -> st.SearchStrategy[tuple[str, str]]:
    """One slot's (clean, corrupt) values: a value of a list for both texts, or the clean and
    corrupt values at one index of {clean:, corrupt:} lists. Built once per slot, since
    Hypothesis labels a `sampled_from` by scanning its elements."""
    if not isinstance(slot, (tuple, PairedSlot)):
        slot = parse_slot({k: list(v) for k, v in slot.items()} if isinstance(slot, Mapping)
                          else list(slot))
    if isinstance(slot, PairedSlot):
        return st.sampled_from(list(zip(slot.clean, slot.corrupt)))
    return st.sampled_from([(v, v) for v in slot])


@st.composite
def filled_pair(draw: st.DrawFn, templates: st.SearchStrategy[str],
            slots: Mapping[str, st.SearchStrategy[tuple[str, str]]]) -> FilledPair:
    template = draw(templates)
    values = []
    for name in dict.fromkeys(template_slots(template)):
        if name not in slots:
            raise ValueError(f"template {template!r} has slot {{{name}}} with no values in `slots`")
        values.append((name, *draw(slots[name])))
    return FilledPair(template, tuple(values))


def template_pairs(templates: Sequence[str],
                   slots: Mapping[str, Any]) -> st.SearchStrategy[FilledPair]:
    """A template with each slot drawn by `slot_values`: a counterfactual pair of texts."""
    if not templates:
        raise ValueError("template_pairs needs at least one template")
    return filled_pair(st.sampled_from(list(templates)), {k: slot_values(v) for k, v in slots.items()})


# -- seeded runs ----------------------------------------------------------------------------------
def _settings(n: int, phases: list[Phase]) -> settings:
    return settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=n,
                    derandomize=False, database=None, print_blob=False, phases=phases)


def seeded_draws(strategy: st.SearchStrategy[T], n: int, seed: int) -> list[T]:
    """Up to `n` values Hypothesis draws from `strategy` (fewer once it has drawn every value a
    small strategy has), the same ones for the same seed and Hypothesis version."""
    drawn: list[T] = []

    @_settings(n, [Phase.generate])
    @given(strategy)
    def collect(value: T) -> None:
        drawn.append(value)

    # `find(random=Random(seed))` seeds its test with the same 64 bits: `seeded_shrink` with
    # this seed meets the same values first.
    with global_constants_only():
        fixed_seed(random.Random(seed).getrandbits(64))(collect)()
    return drawn


class BudgetSpent(BaseException):
    """Raised by a condition to stop Hypothesis' shrinker (a BaseException, so Hypothesis does
    not take it for the condition failing and shrink it)."""


def seeded_shrink(strategy: st.SearchStrategy[T], breaks: Callable[[T], bool], n: int,
                  seed: int) -> T | None:
    """The first of `seeded_draws(strategy, n, seed)` for which `breaks` holds, shrunk by
    Hypothesis to the simplest value for which it still holds; None if none breaks (or `breaks`
    raised `BudgetSpent`: the caller keeps the last value that broke)."""
    try:
        with global_constants_only():
            return find(strategy, breaks, settings=_settings(n, [Phase.generate, Phase.shrink]),
                        random=random.Random(seed))
    except (BudgetSpent, NoSuchExample):
        return None
