"""And, or and not over any predicates (the token-only versions live in `tokens`, where they
combine per-vocabulary tables instead of masks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from neurontest.claims.predicates.core import Predicate
from neurontest.engine.data.vocabulary import Vocabulary

if TYPE_CHECKING:
    import torch

    from neurontest.engine.data.tokens import TokenBatch


@dataclass(frozen=True)
class Either(Predicate):
    """At least one of `parts` holds at the position."""

    parts: tuple[Predicate, ...]

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        out = self.parts[0].mask(batch, vocab)
        for part in self.parts[1:]:
            out = out | part.mask(batch, vocab)
        return out

    def target_table(self, vocab: Vocabulary) -> torch.Tensor:
        table = self.parts[0].target_table(vocab)
        for part in self.parts[1:]:
            table = table | part.target_table(vocab)
        return table

    def parts_to_check(self) -> tuple[Predicate, ...]:
        return self.parts

    def describe(self) -> str:
        return " or ".join(f"({p.describe()})" for p in self.parts)


@dataclass(frozen=True)
class Both(Predicate):
    """Every one of `parts` holds at the position."""

    parts: tuple[Predicate, ...]

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        out = self.parts[0].mask(batch, vocab)
        for part in self.parts[1:]:
            out = out & part.mask(batch, vocab)
        return out

    def target_table(self, vocab: Vocabulary) -> torch.Tensor:
        table = self.parts[0].target_table(vocab)
        for part in self.parts[1:]:
            table = table & part.target_table(vocab)
        return table

    def parts_to_check(self) -> tuple[Predicate, ...]:
        return self.parts

    def describe(self) -> str:
        return " and ".join(f"({p.describe()})" for p in self.parts)


@dataclass(frozen=True)
class Not(Predicate):
    """`part` does not hold at the (scorable) position."""

    part: Predicate

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        return ~self.part.mask(batch, vocab) & batch.mask

    def parts_to_check(self) -> tuple[Predicate, ...]:
        return (self.part,)

    def describe(self) -> str:
        return f"not ({self.part.describe()})"
