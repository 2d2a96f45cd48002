"""Where a neuron lives, in TransformerLens' hook vocabulary.

A neuron is one coordinate of `blocks.{layer}.mlp.hook_post` (for a gated MLP: the input of the
down projection). `L{layer}N{index}` is the short id used in test ids and reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Sequence

import torch

_SHORT_ID = re.compile(r"^L(?P<layer>\d+)N(?P<index>\d+)$")


def mlp_post_hook(layer: int) -> str:
    """The TransformerLens hook name whose last axis holds layer `layer`'s neurons."""
    return f"blocks.{layer}.mlp.hook_post"


@dataclass(frozen=True, order=True)
class NeuronRef:
    """One MLP neuron: `layer` and `index` into `blocks.{layer}.mlp.hook_post[..., index]`."""

    kind: ClassVar[str] = "neuron"
    #: the MLP is position-wise and this hook is inside it: prefix runs may run the layer's MLP
    #: on the read positions alone
    mlp_tail: ClassVar[bool] = True

    layer: int
    index: int

    @classmethod
    def parse(cls, text: str) -> NeuronRef:
        """Read `L3N1234` (case-insensitive)."""
        match = _SHORT_ID.match(text.strip().upper())
        if not match:
            raise ValueError(
                f"{text!r} is not a neuron id: write it as L<layer>N<index>, e.g. L3N1234"
            )
        return cls(int(match["layer"]), int(match["index"]))

    @property
    def hook_name(self) -> str:
        return mlp_post_hook(self.layer)

    @property
    def short_id(self) -> str:
        return f"L{self.layer}N{self.index}"

    @property
    def address(self) -> str:
        """The full location, as a researcher would index a cache: `blocks.3.mlp.hook_post[1234]`."""
        return f"{self.hook_name}[{self.index}]"

    def __str__(self) -> str:
        return self.short_id

    def check_in_range(self, n_layers: int, d_mlp: int) -> None:
        """Raise `ValueError` naming the valid range when this neuron does not exist in a model."""
        if not 0 <= self.layer < n_layers:
            raise ValueError(
                f"{self.short_id}: layer {self.layer} is out of range; the model has layers 0..{n_layers - 1}"
            )
        if not 0 <= self.index < d_mlp:
            raise ValueError(
                f"{self.short_id}: neuron {self.index} is out of range; layer {self.layer} has neurons 0..{d_mlp - 1}"
            )

    # -- the unit interface (neurontest.engine.units.protocol) -------------------------------------------
    @property
    def cache_key(self) -> str:
        """File name stem of its activation cache entry (the short id: older caches stay valid)."""
        return self.short_id

    @property
    def group(self) -> tuple[str, str]:
        return (self.kind, self.hook_name)

    def check(self, model: Any) -> None:
        self.check_in_range(int(model.cfg.n_layers), int(model.cfg.d_mlp))

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "index": self.index}

    @classmethod
    def reader(cls, model: Any, units: Sequence[NeuronRef]) -> Callable[[torch.Tensor], torch.Tensor]:
        """`value [..., pos, d_mlp] -> [..., pos, len(units)]`: the units' columns."""
        columns = [u.index for u in units]

        def read(value: torch.Tensor) -> torch.Tensor:
            return value[..., columns]

        return read

    @classmethod
    def editors(cls, model: Any, values: Mapping[NeuronRef, float], *,
                add: bool = False) -> list[tuple[str, Callable[..., Any]]]:
        """One hook that sets (or with `add`, shifts) each neuron's activation by its value."""
        refs = list(values)
        columns = [r.index for r in refs]
        fill = [float(values[r]) for r in refs]

        def hook(value: torch.Tensor, hook: Any = None) -> torch.Tensor:
            value = value.clone()
            new = torch.tensor(fill, dtype=value.dtype, device=value.device)
            value[..., columns] = value[..., columns] + new if add else new
            return value

        return [(refs[0].hook_name, hook)]

    @classmethod
    def state_reader(cls, model: Any, units: Sequence[NeuronRef]) -> Callable[[torch.Tensor], torch.Tensor]:
        """What patching copies between runs: the activation itself (`[..., pos, k]`)."""
        return cls.reader(model, units)

    @classmethod
    def patchers(cls, model: Any, states: Mapping[NeuronRef, torch.Tensor],
                 where: torch.Tensor) -> list[tuple[str, Callable[..., Any]]]:
        """One hook that sets each neuron to `states[neuron]` (`[batch, pos]`) where `where`
        (`[batch, pos]`, bool) is True, leaving every other position as the run computes it."""
        refs = list(states)
        columns = [r.index for r in refs]

        def hook(value: torch.Tensor, hook: Any = None) -> torch.Tensor:
            new = torch.stack([states[r] for r in refs], dim=-1).to(value.device, value.dtype)
            mask = where.to(value.device)[..., None]
            value = value.clone()
            value[..., columns] = torch.where(mask, new, value[..., columns])
            return value

        return [(refs[0].hook_name, hook)]

    def output_direction(self, model: Any) -> torch.Tensor:
        """Row `index` of the layer's W_out: what one unit of activation adds to the residual."""
        with torch.inference_mode():
            return model.blocks[self.layer].mlp.W_out[self.index].detach().float().cpu()
