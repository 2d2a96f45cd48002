"""Attention mass as a minable column: how much of one head's attention, at each destination,
lands on the positions a claim names.

    probe = AttentionMass(16, 0, "offset-1")           # L16H0's mass on the previous token
    columns = neuron_activations(model, batch, [probe, NeuronRef(29, 5)])   # one pass for both

An `attends` claim needs, per corpus destination, one number: the share of the head's attention
on the claimed sources. Read as a unit from `blocks.{L}.attn.hook_pattern`, that number is mined
in the session's one pass over the corpus with every neuron, head, latent and direction the
session reads (several probes of one layer share one read of the pattern), cached on disk like
any unit's activations, and no `[rows, pos, pos]` pattern is ever kept for the corpus.

`to` names the sources: `offset-N` (the token N back; `offset0` is the token itself), `first`
(position 0: the BOS or first token), or `sources-<key>`, a mask of source tokens over the corpus
(a claim's predicate, bound by the lab with `with_sources` before mining; `key` identifies the
predicate in cache file names). A destination with no such source gets mass 0; claims exclude
those destinations themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch

from neurontest.engine.units.head import HeadRef

_TO = re.compile(r"^(offset(?P<offset>-?\d+)|first|sources-(?P<key>[0-9a-z]+))$")


@dataclass(frozen=True)
class AttentionMass:
    """Head `head` of layer `layer`: its attention mass at each destination on the sources `to`
    names. `sources` carries what a `sources-` probe needs: the claim's predicate until the lab
    binds it, then the corpus mask `[rows, pos]` (bool); it is not part of the probe's identity."""

    kind: ClassVar[str] = "attention"
    mlp_tail: ClassVar[bool] = False
    #: the reader needs each chunk's first corpus row (a `sources-` mask is indexed by row)
    reads_rows: ClassVar[bool] = True

    layer: int
    head: int
    to: str
    sources: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        match = _TO.match(self.to)
        if not match or (match["offset"] is not None and int(match["offset"]) > 0):
            raise ValueError(f"{self.to!r} is not an attention target: offset-N, offset0, first "
                             "or sources-<key>")

    @property
    def offset(self) -> int | None:
        match = _TO.match(self.to)
        return int(match["offset"]) if match and match["offset"] is not None else None

    @property
    def needs_sources(self) -> bool:
        return self.to.startswith("sources-")

    @property
    def head_ref(self) -> HeadRef:
        return HeadRef(self.layer, self.head)

    @property
    def hook_name(self) -> str:
        return f"blocks.{self.layer}.attn.hook_pattern"

    @property
    def short_id(self) -> str:
        return f"L{self.layer}H{self.head}:{self.to}"

    @property
    def address(self) -> str:
        return f"{self.hook_name}[:, {self.head}] summed over {self.to}"

    @property
    def cache_key(self) -> str:
        return f"L{self.layer}H{self.head}.attn-{self.to}"

    @property
    def group(self) -> tuple[str, str]:
        return (self.kind, self.hook_name)

    def __str__(self) -> str:
        return self.short_id

    def check(self, model: Any) -> None:
        self.head_ref.check(model)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "layer": self.layer, "head": self.head, "to": self.to}

    def with_sources(self, mask: torch.Tensor, scorable: torch.Tensor | None = None) -> AttentionMass:
        """This probe holding the corpus mask of its source tokens (`[rows, pos]` bool)."""
        return replace(self, sources=mask)

    def for_rows(self, rows: slice) -> AttentionMass:
        """This probe for a shard of the corpus rows (its source mask cut to them)."""
        if self.sources is None or not self.needs_sources:
            return self
        return replace(self, sources=self.sources[rows])

    @classmethod
    def reader(cls, model: Any, units: Sequence[AttentionMass]
               ) -> Callable[..., torch.Tensor]:
        """`(pattern [batch, n_heads, dst, src], first_row) -> [batch, dst, len(units)]`."""
        for unit in units:
            if unit.needs_sources and not hasattr(unit.sources, "shape"):
                raise ValueError(f"{unit.short_id}: its source mask was not bound before mining "
                                 "(Lab.prepare binds it from the claim's predicate)")

        def read(pattern: torch.Tensor, first_row: int = 0) -> torch.Tensor:
            batch, _, width, _ = pattern.shape
            columns = []
            for unit in units:
                p = pattern[:, unit.head].float()  # [batch, dst, src]
                if unit.to == "first":
                    columns.append(p[..., 0])
                elif unit.needs_sources:
                    src = unit.sources[first_row:first_row + batch, :width].to(p.device)
                    columns.append(mass_on(p, sources=src))
                else:
                    columns.append(mass_on(p, offset=int(unit.offset)))  # type: ignore[arg-type]
            return torch.stack(columns, dim=-1)

        return read

    @classmethod
    def editors(cls, model: Any, values: Any, *, add: bool = False) -> list:
        raise ValueError("attention mass is read, not edited: ablate or steer the head instead")

    def output_direction(self, model: Any) -> torch.Tensor:
        raise ValueError(f"{self.short_id}: attention mass has no output direction")


def mass_on(patterns: torch.Tensor, *, offset: int | None = None,
            sources: torch.Tensor | None = None) -> torch.Tensor:
    """`[rows, pos]`: attention mass from each destination onto its claimed sources: the token
    `offset` away (0 where that falls before the text), or every earlier-or-same position where
    `sources` ([rows, pos] bool) holds."""
    rows, width, _ = patterns.shape
    if (offset is None) == (sources is None):
        raise ValueError("give exactly one of offset= or sources=")
    if sources is not None:
        return (patterns * sources[:, None, :].to(patterns.dtype)).sum(-1)
    if offset > 0:
        raise ValueError(f"offset {offset} looks ahead: a causal head attends to offsets <= 0")
    dst = torch.arange(width, device=patterns.device)
    src = dst + offset
    valid = src >= 0
    mass = patterns.new_zeros(rows, width)
    mass[:, valid] = patterns[:, dst[valid], src[valid]]
    return mass
