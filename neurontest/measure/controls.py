"""Null distributions for interventions: random units of the same kind and layer as a claimed
unit, edited the same way, and where the claimed unit's effect falls among them.

A unit's ablation effect means little alone: ablating almost any neuron moves some log-prob a
little. The controls say what an arbitrary unit at the same place does under the same edit; the
exact permutation p-value is (1 + #controls at least as extreme) / (1 + n), so it can never be
below 1 / (n + 1) however strong the effect.

Random units, seeded: neurons of the same layer, heads of the same layer, latents of the same
SAE; for a direction, random Gaussian directions at the same hook (unit norm, as every direction
unit is). Each ablated unit is replaced by one random unit of its own kind and place, so a
control edits as many units as the claim does.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch

from neurontest.engine.units.direction import DirectionUnit
from neurontest.engine.units.protocol import index_in_place, place_size, sibling
from neurontest.engine.units.sae_latent import SaeLatent

#: Two effects this close are a tie (the same edit in another batch row differs by rounding).
TIE_TOLERANCE = 1e-6


def _pool_key(unit: Any) -> tuple[Any, ...]:
    """Units that may stand in for one another: same kind and same place."""
    if isinstance(unit, SaeLatent):
        return ("latent", unit.sae.key)
    if isinstance(unit, DirectionUnit):
        return ("direction", unit.hook)
    return (unit.kind, unit.layer)


def _pool_size(model: Any, unit: Any) -> int | None:
    """How many units of `unit`'s kind sit at its place (None: unlimited, i.e. directions)."""
    try:
        return place_size(model, unit)
    except ValueError:
        raise ValueError(f"{unit.short_id}: no random controls for a {unit.kind} unit") from None


def available_controls(model: Any, units: Sequence[Any]) -> dict[str, int | None]:
    """For each place of `units` (named by its first unit), how many other units could stand
    in: the place's size less the ablated units there (None: unlimited)."""
    by_place: dict[tuple[Any, ...], list[Any]] = {}
    for unit in units:
        by_place.setdefault(_pool_key(unit), []).append(unit)
    found: dict[str, int | None] = {}
    for group in by_place.values():
        size = _pool_size(model, group[0])
        found[group[0].short_id] = None if size is None else size - len(group)
    return found


def check_controls(model: Any, units: Sequence[Any], n: int) -> None:
    """ValueError (one line, with the fix) if `n` controls cannot be drawn for `units`."""
    for name, count in available_controls(model, units).items():
        if count is not None and count < n:
            place = "its SAE" if "#" in name else "its layer"
            raise ValueError(f"`control: {{units: {n}}}`: {place} holds only {count} other unit(s) "
                             f"of {name}'s kind to draw from; set `control.units:` to at most {count}")


def draw_controls(model: Any, units: Sequence[Any], n: int, seed: int) -> list[list[Any]]:
    """`n` control sets: each replaces every unit of `units` by a random unit of its kind and
    place, never one of `units`; a place with one ablated unit gets `n` distinct controls."""
    check_controls(model, units, n)
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    by_place: dict[tuple[Any, ...], list[Any]] = {}
    for unit in units:
        by_place.setdefault(_pool_key(unit), []).append(unit)
    controls: list[list[Any]] = [[] for _ in range(n)]
    for group in by_place.values():
        first = group[0]
        if isinstance(first, DirectionUnit):
            width = first.vector.numel()
            for i in range(n):
                for j in range(len(group)):
                    vector = torch.randn(width, generator=generator)
                    controls[i].append(DirectionUnit.from_vector(
                        vector, first.hook, name=f"random{i}.{j}", source="control"))
            continue
        taken = {index_in_place(u) for u in group}
        pool = [k for k in range(_pool_size(model, first) or 0) if k not in taken]
        if len(group) == 1:
            for i, k in enumerate(rng.sample(pool, n)):
                controls[i].append(sibling(first, k))
        else:
            for i in range(n):
                controls[i] += [sibling(first, k) for k in rng.sample(pool, len(group))]
    return controls


def more_extreme(value: float, reference: float, lower: bool) -> bool:
    """Whether `value` is at least as extreme as `reference` (lower or higher being extreme),
    rounding-level differences counted as ties."""
    tolerance = TIE_TOLERANCE * max(1.0, abs(reference))
    return value <= reference + tolerance if lower else value >= reference - tolerance


def permutation_p_value(observed: float, controls: Sequence[float], lower: bool) -> float:
    """(1 + #controls at least as extreme as `observed`) / (1 + n): exact under the null that
    the claimed unit is one more draw from the controls' distribution."""
    extreme = sum(more_extreme(c, observed, lower) for c in controls)
    return (1 + extreme) / (1 + len(controls))


def percentile(observed: float, controls: Sequence[float], lower: bool) -> float:
    """The share of controls that `observed` is strictly more extreme than (ties count against
    it): 1.0 when it beats every control."""
    if not controls:
        return 0.0
    return sum(not more_extreme(c, observed, lower) for c in controls) / len(controls)


def reachable(alpha: float, n: int, strict: bool) -> bool:
    """Whether n controls can give a permutation p-value at (`strict`: below) `alpha`."""
    floor = 1 / (n + 1)
    return floor < alpha if strict else floor <= alpha + 1e-12


def controls_needed(alpha: float, strict: bool = False) -> int | None:
    """The fewest controls whose smallest p-value, 1/(n+1), meets `alpha` (None: none do)."""
    import math

    if alpha <= 0:
        return None
    n = max(1, math.ceil(1 / alpha) - 2)
    while not reachable(alpha, n, strict):
        n += 1
    return n
