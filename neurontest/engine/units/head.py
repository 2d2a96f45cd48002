"""An attention head as a unit: `L5H3` is head 3 of layer 5.

Its activation at a position is the norm of what the head writes into the residual stream there,
`|z[h] @ W_O[h]|`, read from `blocks.{L}.attn.hook_z` ([batch, pos, n_heads, d_head]). Ablation
scales z[h] (zero: the head writes nothing); there is no single output direction (what a head
writes depends on what it attends to), so logit attribution refuses it with a clear error.
Attention-pattern claims read `blocks.{L}.attn.hook_pattern` instead (neurontest.measure.attention).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

_SHORT_ID = re.compile(r"^L(?P<layer>\d+)H(?P<head>\d+)$")


@dataclass(frozen=True, order=True)
class HeadRef:
    """One attention head: `layer` and `head` (a query head, under grouped-query attention)."""

    kind: ClassVar[str] = "head"
    mlp_tail: ClassVar[bool] = False

    layer: int
    head: int

    @classmethod
    def parse(cls, text: str) -> HeadRef:
        """Read `L5H3` (case-insensitive)."""
        match = _SHORT_ID.match(text.strip().upper())
        if not match:
            raise ValueError(f"{text!r} is not a head id: write it as L<layer>H<head>, e.g. L5H3")
        return cls(int(match["layer"]), int(match["head"]))

    @property
    def hook_name(self) -> str:
        return f"blocks.{self.layer}.attn.hook_z"

    @property
    def pattern_hook(self) -> str:
        return f"blocks.{self.layer}.attn.hook_pattern"

    @property
    def short_id(self) -> str:
        return f"L{self.layer}H{self.head}"

    @property
    def address(self) -> str:
        return f"{self.hook_name}[:, :, {self.head}] @ W_O[{self.head}]"

    @property
    def cache_key(self) -> str:
        return self.short_id

    @property
    def group(self) -> tuple[str, str]:
        return (self.kind, self.hook_name)

    def __str__(self) -> str:
        return self.short_id

    def check(self, model: Any) -> None:
        n_layers, n_heads = int(model.cfg.n_layers), int(model.cfg.n_heads)
        if not 0 <= self.layer < n_layers:
            raise ValueError(f"{self.short_id}: layer {self.layer} is out of range; the model has "
                             f"layers 0..{n_layers - 1}")
        if not 0 <= self.head < n_heads:
            raise ValueError(f"{self.short_id}: head {self.head} is out of range; layer "
                             f"{self.layer} has heads 0..{n_heads - 1}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "layer": self.layer, "head": self.head}

    @classmethod
    def reader(cls, model: Any, units: Sequence[HeadRef]) -> Callable[[torch.Tensor], torch.Tensor]:
        """`z [..., pos, n_heads, d_head] -> [..., pos, len(units)]`: each head's output norm."""
        heads = [u.head for u in units]
        # no_grad, not inference_mode: prompt optimisation differentiates through this read.
        with torch.no_grad():
            w_o = model.blocks[units[0].layer].attn.W_O.detach()[heads].clone()  # [k, d_head, d_model]

        def read(value: torch.Tensor) -> torch.Tensor:
            z = value[..., heads, :]  # [..., pos, k, d_head]
            out = torch.einsum("...kd,kdm->...km", z, w_o.to(z.device, z.dtype))
            return out.norm(dim=-1)

        return read

    @classmethod
    def editors(cls, model: Any, values: Mapping[HeadRef, float], *,
                add: bool = False) -> list[tuple[str, Callable[..., Any]]]:
        """Scale each head's z so its output norm becomes its value (zero: the head is silent);
        with `add`, so that the norm grows by the value."""
        refs = list(values)
        read = cls.reader(model, refs)

        def hook(value: torch.Tensor, hook: Any = None) -> torch.Tensor:
            norms = read(value)  # [..., pos, k]
            value = value.clone()
            for k, ref in enumerate(refs):
                target = float(values[ref])
                norm = norms[..., k]
                goal = norm + target if add else torch.full_like(norm, target)
                scale = torch.where(norm > 0, goal / norm.clamp_min(1e-30), torch.zeros_like(norm))
                value[..., ref.head, :] = value[..., ref.head, :] * scale[..., None]
            return value

        return [(refs[0].hook_name, hook)]

    @classmethod
    def state_reader(cls, model: Any, units: Sequence[HeadRef]) -> Callable[[torch.Tensor], torch.Tensor]:
        """What patching copies between runs: each head's whole z vector (`[..., pos, k,
        d_head]`), not its norm: two runs can write the same amount in different directions."""
        heads = [u.head for u in units]

        def read(value: torch.Tensor) -> torch.Tensor:
            return value[..., heads, :]

        return read

    @classmethod
    def patchers(cls, model: Any, states: Mapping[HeadRef, torch.Tensor],
                 where: torch.Tensor) -> list[tuple[str, Callable[..., Any]]]:
        """One hook that sets each head's z to `states[head]` (`[batch, pos, d_head]`) where
        `where` (`[batch, pos]`, bool) is True."""
        refs = list(states)

        def hook(value: torch.Tensor, hook: Any = None) -> torch.Tensor:
            mask = where.to(value.device)[..., None]
            value = value.clone()
            for ref in refs:
                new = states[ref].to(value.device, value.dtype)
                value[..., ref.head, :] = torch.where(mask, new, value[..., ref.head, :])
            return value

        return [(refs[0].hook_name, hook)]

    def output_direction(self, model: Any) -> torch.Tensor:
        raise ValueError(
            f"{self.short_id}: an attention head has no single output direction (what it writes "
            "depends on where it attends), so logit_attribution is not defined for heads; use an "
            "ablation claim for its effect on the logits"
        )
