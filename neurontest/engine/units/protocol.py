"""What a claim can be about: a unit with an activation per token, an edit, an output direction.

Four kinds implement the same small interface (duck-typed, the `Unit` protocol below; `UnitRef` names the four classes):

| kind        | class                      | short id              | read at                         |
|-------------|----------------------------|-----------------------|---------------------------------|
| MLP neuron  | `neuron.NeuronRef`         | `L3N946`              | `blocks.3.mlp.hook_post[946]`   |
| attn head   | `head.HeadRef`             | `L5H3`                | `blocks.5.attn.hook_z` @ W_O    |
| SAE latent  | `sae.SaeLatent`            | `<sae name>#1234`     | the SAE's hook, through encoder |
| direction   | `direction.DirectionUnit`  | `dir:<stem>@<hook>`   | projection on a vector          |

Each has `hook_name` (where it is read), `layer` (the deepest block a forward must run),
`short_id`, `address`, `cache_key` (file-safe; a neuron's is its short id, so older activation
caches stay valid), `group` (units with one group are read by one reader), `check(model)`,
`reader(model, units)` (hook value [..., pos, ...] -> [..., pos, k]), `editors(model, values,
add=)` (forward hooks that set or shift activations), `state_reader(model, units)` and
`patchers(model, states, where)` (what activation patching copies from one run into another, per
position: the activation, or a head's whole z), `output_direction(model)` and `to_dict()`.
The functions here dispatch over a mixed list of units.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Protocol,
)

from neurontest.engine.units.direction import DirectionUnit
from neurontest.engine.units.head import HeadRef
from neurontest.engine.units.neuron import NeuronRef
from neurontest.engine.units.sae_latent import SaeLatent

if TYPE_CHECKING:
    import torch

#: Any unit a claim can be about, for annotations (`Unit` is the interface they share).
UnitRef = NeuronRef | HeadRef | SaeLatent | DirectionUnit
UNIT_KINDS = ("neuron", "head", "latent", "direction")


class Unit(Protocol):
    """The interface every unit kind implements (see the module docstring)."""

    kind: str

    @property
    def hook_name(self) -> str: ...
    @property
    def layer(self) -> int: ...
    @property
    def short_id(self) -> str: ...
    @property
    def cache_key(self) -> str: ...
    def check(self, model: Any) -> None: ...
    def output_direction(self, model: Any) -> torch.Tensor: ...


def check_units(model: Any, units: Iterable[Any]) -> None:
    """ValueError naming the valid range (or the fix) for any unit the model does not have."""
    for unit in units:
        unit.check(model)


def grouped(units: Sequence[Any]) -> dict[tuple[Any, str], list[Any]]:
    """Units by (group, hook name): each group is read by one reader at one hook."""
    groups: dict[tuple[Any, str], list[Any]] = defaultdict(list)
    for unit in units:
        groups[(unit.group, unit.hook_name)].append(unit)
    return groups


def capture_hooks(model: Any, units: Sequence[Any], sink: dict[Any, list[torch.Tensor]],
                  position: dict[str, int] | None = None) -> list[tuple[str, Callable[..., None]]]:
    """Forward hooks that append each unit's `[batch, pos]` activations (float32 CPU) to
    `sink[unit]`; several units of one group cost one read (one encoder matmul for an SAE).
    Units that read corpus masks get the chunk's first corpus row (`position["start"]`, set by
    the pass); accumulating units append the chunk's summary as their reader returns it."""
    hooks = []
    for (_, hook_name), group in grouped(units).items():
        read = type(group[0]).reader(model, group)

        def hook(value: torch.Tensor, hook: Any = None, read: Any = read, group: Any = group) -> None:
            if getattr(group[0], "reads_rows", False):
                picked = read(value.detach(), (position or {}).get("start", 0))
            else:
                picked = read(value.detach())
            if not getattr(group[0], "accumulates", False):
                picked = picked.float()
            picked = picked.cpu()
            for k, unit in enumerate(group):
                sink[unit].append(picked[..., k])

        hooks.append((hook_name, hook))
    return hooks


def read_activations(model: Any, unit: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """`value [..., pos, ...] -> [..., pos]` for one unit (what prefix runs and readouts use)."""
    read = type(unit).reader(model, [unit])

    def one(value: torch.Tensor) -> torch.Tensor:
        return read(value)[..., 0]

    return one


def edit_hooks(model: Any, values: Mapping[Any, float], *,
               add: bool = False) -> list[tuple[str, Callable[..., Any]]]:
    """Forward hooks that set each unit's activation to `values[unit]` (with `add`: shift it by
    that much, i.e. steer along the unit)."""
    by_kind: dict[type, dict[Any, float]] = defaultdict(dict)
    for unit, value in values.items():
        by_kind[type(unit)][unit] = value
    hooks: list[tuple[str, Callable[..., Any]]] = []
    for cls, group in by_kind.items():
        by_group: dict[Any, dict[Any, float]] = defaultdict(dict)
        for unit, value in group.items():
            by_group[(unit.group, unit.hook_name)][unit] = value
        for part in by_group.values():
            hooks += cls.editors(model, part, add=add)
    return hooks


def state_hooks(model: Any, units: Sequence[Any],
                sink: dict[Any, list[torch.Tensor]]) -> list[tuple[str, Callable[..., None]]]:
    """Forward hooks that append each unit's patchable state (`[batch, pos, ...]`, float32 CPU:
    its activation, or a head's z) to `sink[unit]`, for `patch_hooks` in another run."""
    hooks = []
    for (_, hook_name), group in grouped(units).items():
        read = type(group[0]).state_reader(model, group)

        def hook(value: torch.Tensor, hook: Any = None, read: Any = read, group: Any = group) -> None:
            picked = read(value.detach()).float().cpu()
            for k, unit in enumerate(group):  # states are [batch, pos, k, ...]
                sink[unit].append(picked[:, :, k])

        hooks.append((hook_name, hook))
    return hooks


def patch_hooks(model: Any, states: Mapping[Any, torch.Tensor],
                where: torch.Tensor) -> list[tuple[str, Callable[..., Any]]]:
    """Forward hooks that set each unit's state to `states[unit]` (as `state_hooks` captured it
    in another run of the same shape) at the positions where `where` (`[batch, pos]`) is True."""
    by_group: dict[tuple[type, Any, str], dict[Any, torch.Tensor]] = defaultdict(dict)
    for unit, state in states.items():
        by_group[(type(unit), unit.group, unit.hook_name)][unit] = state
    hooks: list[tuple[str, Callable[..., Any]]] = []
    for (cls, _, _), part in by_group.items():
        hooks += cls.patchers(model, part, where)
    return hooks


def place_size(model: Any, unit: Any) -> int | None:
    """How many units of `unit`'s kind share its place: its MLP layer's neurons, its attention
    layer's heads, its SAE's latents (None: directions, which have no finite set of siblings)."""
    if isinstance(unit, NeuronRef):
        return int(model.cfg.d_mlp)
    if isinstance(unit, HeadRef):
        return int(model.cfg.n_heads)
    if isinstance(unit, SaeLatent):
        return unit.sae.d_sae
    if isinstance(unit, DirectionUnit):
        return None
    raise ValueError(f"{unit.short_id}: a {unit.kind} has no place among siblings")


def index_in_place(unit: Any) -> int:
    """The unit's index among the units of its place (`place_size`)."""
    if isinstance(unit, HeadRef):
        return unit.head
    if isinstance(unit, SaeLatent):
        return unit.latent
    return int(unit.index)


def sibling(unit: Any, index: int) -> Any:
    """The unit at `index` of `unit`'s place."""
    if isinstance(unit, NeuronRef):
        return NeuronRef(unit.layer, index)
    if isinstance(unit, HeadRef):
        return HeadRef(unit.layer, index)
    if isinstance(unit, SaeLatent):
        return unit.sae.latent(index)
    raise ValueError(f"{unit.short_id}: a {unit.kind} has no siblings")


def stop_layer(model: Any, units: Iterable[Any]) -> int | None:
    """`stop_at_layer` for a forward that reads `units` (None: the whole model)."""
    deepest = max(u.layer for u in units) + 1
    return deepest if deepest < int(model.cfg.n_layers) else None


def unit_to_dict(unit: Any) -> dict[str, Any]:
    """Plain data for a unit (results cache, xdist); a neuron's stays `{layer, index}`."""
    return unit.to_dict()


def parse_unit_id(text: str) -> NeuronRef | HeadRef:
    """`L3N946` (neuron) or `L5H3` (head)."""
    cleaned = str(text).strip().upper()
    if "H" in cleaned and "N" not in cleaned:
        return HeadRef.parse(cleaned)
    try:
        return NeuronRef.parse(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not a neuron id (L<layer>N<index>, e.g. L3N946) nor a head "
                         "id (L<layer>H<head>, e.g. L5H3)") from None


def unit_order(unit: Any) -> tuple[int, int, int, str]:
    """A sort key for mixed units: neurons first in (layer, index) order, as before units."""
    kind = UNIT_KINDS.index(unit.kind) if unit.kind in UNIT_KINDS else len(UNIT_KINDS)
    return (kind, unit.layer, int(getattr(unit, "index", getattr(unit, "head", 0))), unit.short_id)
