"""Context forms: what holds at other positions relative to the target.

    Near(target, other, offsets=(-1,))            `other` holds at the previous token
    Near(target, other, offsets=(1, 2, 3))        ... at one of the next three tokens
    Context(token, preceded_by, within=2)         the original look-back form (a `Near`)
    Sequence((month, space, digit), target=2)     the exact tokens around the target

Offsets are relative positions (negative: before the target). A position outside the text, BOS
or padding satisfies nothing, so `not_preceded_by` holds at the first token of a text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from neurontest.claims.predicates.core import Predicate, shifted
from neurontest.engine.data.vocabulary import Vocabulary

if TYPE_CHECKING:
    import torch

    from neurontest.engine.data.tokens import TokenBatch


@dataclass(frozen=True)
class Near(Predicate):
    """`target` holds here and `other` holds at one of the relative `offsets` (with
    `negate=True`: at none of them)."""

    target: Predicate
    other: Predicate
    offsets: tuple[int, ...]
    negate: bool = False

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        other = self.other.mask(batch, vocab)
        seen = other & False
        for offset in self.offsets:
            seen |= shifted(other, offset)
        return self.target.mask(batch, vocab) & (~seen if self.negate else seen)

    def target_table(self, vocab: Vocabulary) -> torch.Tensor:
        return self.target.target_table(vocab)

    def parts_to_check(self) -> tuple[Predicate, ...]:
        return (self.target, self.other)

    def describe(self) -> str:
        verb, where = describe_offsets(self.offsets, self.negate)
        return f"{self.target.describe()}, {verb} ({self.other.describe()}) at {where}"


def describe_offsets(offsets: tuple[int, ...], negate: bool) -> tuple[str, str]:
    """('preceded by', 'the previous token'), ('not followed by', 'one of the next 3 tokens')."""
    ahead = offsets[0] > 0
    verb = ("not " if negate else "") + ("followed by" if ahead else "preceded by")
    side = "next" if ahead else "previous"
    distances = sorted(abs(o) for o in offsets)
    if distances == [1]:
        where = f"the {side} token"
    elif len(distances) == 1:
        where = f"exactly {distances[0]} tokens {'after' if ahead else 'before'}"
    else:
        where = f"one of the {side} {distances[-1]} tokens"
    return verb, where


class Context(Near):
    """The original context form: `token` holds here and `preceded_by` holds at one of the
    previous `within` positions (or, with `negate=True`, at none of them)."""

    def __init__(self, token: Predicate, preceded_by: Predicate, within: int = 1,
                 negate: bool = False) -> None:
        if isinstance(within, bool) or not isinstance(within, int) or within < 1:
            raise ValueError(f"within must be a whole number >= 1, got {within!r}")
        super().__init__(token, preceded_by, tuple(-k for k in range(1, within + 1)), negate)

    @property
    def token(self) -> Predicate:
        return self.target

    @property
    def preceded_by(self) -> Predicate:
        return self.other

    @property
    def within(self) -> int:
        return len(self.offsets)


@dataclass(frozen=True)
class Sequence(Predicate):
    """`elements[i]` holds at offset `i - target` from the position, for every i: the exact
    tokens before and after the target, the target being `elements[target]`."""

    elements: tuple[Predicate, ...]
    target: int

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        out = self.elements[self.target].mask(batch, vocab)
        for i, element in enumerate(self.elements):
            if i != self.target:
                out = out & shifted(element.mask(batch, vocab), i - self.target)
        return out

    def target_table(self, vocab: Vocabulary) -> torch.Tensor:
        return self.elements[self.target].target_table(vocab)

    def parts_to_check(self) -> tuple[Predicate, ...]:
        return self.elements

    def describe(self) -> str:
        parts = [f"[target: {e.describe()}]" if i == self.target else f"({e.describe()})"
                 for i, e in enumerate(self.elements)]
        return "sequence " + ", ".join(parts)
