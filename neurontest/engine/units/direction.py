"""A direction as a unit: a vector at one hook (a probe, a difference of means), read as the
scalar projection of the hook's value on it.

    direction: probes/negation.npy
    hook: blocks.5.hook_resid_post

Activation at a position = x . d / |d| (so a unit vector reads as a coordinate); ablation removes
(or sets) that projection: x + (v - x . d^) d^; the output direction is d^ itself when the hook is
in the residual stream (through W_out from `mlp.hook_post`). The vector comes from a `.pt`
(a tensor, or a dict with one tensor), `.npy` or `.safetensors` (one tensor) file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from neurontest.engine.units.hooks import check_hook, hook_layer, hook_width, residual_vector

DIRECTION_SUFFIXES = (".pt", ".pth", ".npy", ".safetensors")


@dataclass(frozen=True)
class DirectionUnit:
    """A unit-norm vector `vector` at `hook`; equal when the file's stem, hook and values match."""

    kind: ClassVar[str] = "direction"
    mlp_tail: ClassVar[bool] = False

    name: str  # the file's stem: what a report shows
    hook: str
    digest: str  # sha256 of the float32 values: two files with one vector are one unit
    source: str = field(default="", compare=False)
    vector: Any = field(default=None, compare=False, repr=False)  # torch.Tensor [d], unit norm

    @classmethod
    def load(cls, path: str | Path, hook: str) -> DirectionUnit:
        """Read the vector at `path` for hook `hook` (ValueError with the fix on any problem)."""
        path = Path(path)
        if path.suffix not in DIRECTION_SUFFIXES:
            raise ValueError(f"direction file {str(path)!r}: use a {', '.join(DIRECTION_SUFFIXES)} file")
        if not path.is_file():
            raise ValueError(f"direction file {str(path)!r} does not exist; give a path relative "
                             "to the hypothesis file")
        hook_layer(hook)
        return cls.from_vector(_read_vector(path), hook, name=path.stem, source=str(path))

    @classmethod
    def from_vector(cls, vector: Any, hook: str, *, name: str = "direction",
                    source: str = "") -> DirectionUnit:
        vector = torch.as_tensor(vector).detach().float().cpu().reshape(-1)
        norm = float(vector.norm())
        if not norm > 0 or not torch.isfinite(vector).all():
            raise ValueError(f"direction {name!r} is zero or not finite: it defines no direction")
        unit = (vector / norm).contiguous()
        digest = hashlib.sha256(unit.numpy().tobytes()).hexdigest()
        return cls(name, hook, digest, source, unit)

    @property
    def hook_name(self) -> str:
        return self.hook

    @property
    def layer(self) -> int:
        return hook_layer(self.hook)

    @property
    def short_id(self) -> str:
        return f"dir:{self.name}@{self.hook}"

    @property
    def address(self) -> str:
        return f"{self.hook} . {self.name}"

    @property
    def cache_key(self) -> str:
        return f"dir-{self.digest[:16]}-{self.hook}"

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.kind, self.hook, self.digest)

    def __str__(self) -> str:
        return self.short_id

    def check(self, model: Any) -> None:
        check_hook(model, self.hook)
        width = hook_width(model, self.hook)
        if width is not None and width != self.vector.numel():
            raise ValueError(f"{self.short_id}: the vector has {self.vector.numel()} values but "
                             f"{self.hook} is {width} wide; save a vector of that size")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "hook": self.hook, "source": self.source,
                "vector": self.vector.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DirectionUnit:
        return cls.from_vector(data["vector"], data["hook"], name=data["name"],
                               source=data.get("source", ""))

    @classmethod
    def reader(cls, model: Any, units: Sequence[DirectionUnit]) -> Callable[[torch.Tensor], torch.Tensor]:
        """`value [..., pos, d] -> [..., pos, k]`: projections on each (unit-norm) vector."""
        basis = torch.stack([u.vector for u in units], dim=1)  # [d, k]

        def read(value: torch.Tensor) -> torch.Tensor:
            return value @ basis.to(value.device, value.dtype)

        return read

    @classmethod
    def editors(cls, model: Any, values: Mapping[DirectionUnit, float], *,
                add: bool = False) -> list[tuple[str, Callable[..., Any]]]:
        """Set (or shift, with `add`) each projection to its value; the orthogonal rest stays."""
        refs = list(values)
        by_hook: dict[str, list[DirectionUnit]] = {}
        for ref in refs:
            by_hook.setdefault(ref.hook, []).append(ref)

        def make(group: list[DirectionUnit]) -> Callable[..., Any]:
            def hook(value: torch.Tensor, hook: Any = None) -> torch.Tensor:
                for ref in group:
                    d = ref.vector.to(value.device, value.dtype)
                    shift = float(values[ref])
                    coeff = shift if add else shift - value @ d
                    value = value + (coeff[..., None] if not add else coeff) * d
                return value

            return hook

        return [(name, make(group)) for name, group in by_hook.items()]

    @classmethod
    def state_reader(cls, model: Any, units: Sequence[DirectionUnit]) -> Callable[[torch.Tensor], torch.Tensor]:
        """What patching copies between runs: the projection (`[..., pos, k]`)."""
        return cls.reader(model, units)

    @classmethod
    def patchers(cls, model: Any, states: Mapping[DirectionUnit, torch.Tensor],
                 where: torch.Tensor) -> list[tuple[str, Callable[..., Any]]]:
        """Set each projection to `states[unit]` (`[batch, pos]`) where `where` is True; the
        orthogonal rest of the hook's value stays as the run computes it."""
        by_hook: dict[str, list[DirectionUnit]] = {}
        for ref in states:
            by_hook.setdefault(ref.hook, []).append(ref)

        def make(group: list[DirectionUnit]) -> Callable[..., Any]:
            def hook(value: torch.Tensor, hook: Any = None) -> torch.Tensor:
                mask = where.to(value.device)
                for ref in group:
                    d = ref.vector.to(value.device, value.dtype)
                    goal = states[ref].to(value.device, value.dtype)
                    coeff = torch.where(mask, goal - value @ d, torch.zeros_like(goal))
                    value = value + coeff[..., None] * d
                return value

            return hook

        return [(name, make(group)) for name, group in by_hook.items()]

    def output_direction(self, model: Any) -> torch.Tensor:
        return residual_vector(model, self.hook, self.vector)


def _read_vector(path: Path) -> Any:
    """The single tensor stored in a direction file."""
    if path.suffix == ".npy":
        try:
            return torch.from_numpy(np.load(path, allow_pickle=False).astype("float32"))
        except ValueError as exc:
            raise ValueError(f"direction file {str(path)!r}: not a numeric .npy array ({exc})") from None
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        tensors = load_file(str(path))
    else:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
        tensors = loaded if isinstance(loaded, dict) else {"tensor": loaded}
    tensors = {k: v for k, v in tensors.items() if isinstance(v, torch.Tensor)}
    if len(tensors) != 1:
        raise ValueError(f"direction file {str(path)!r} holds {len(tensors)} tensors "
                         f"({', '.join(sorted(tensors)) or 'none'}); save exactly one")
    vector = next(iter(tensors.values()))
    if vector.dim() != 1 and not (vector.dim() == 2 and 1 in vector.shape):
        raise ValueError(f"direction file {str(path)!r}: shape {tuple(vector.shape)} is not a "
                         "vector; save a 1-D tensor of the hook's width")
    return vector.float().reshape(-1)
