"""The predicate interface, and the shared tensor steps every form is built from.

A predicate decides, at every position of a token batch `[rows, pos]`, whether the claim says the
neuron fires there. Every form computes its mask with whole-batch torch ops; positions that are
not scorable (BOS, padding) are never marked and never count as context (a look-back past the
start of a text sees nothing).
"""

from __future__ import annotations

from typing import Sequence

import torch

from neurontest.engine.data.tokens import TokenBatch
from neurontest.engine.data.vocabulary import Vocabulary


class Predicate:
    """Decides, for every position of a token batch, whether the claim says the neuron fires.

    Every form is a frozen dataclass (hashable, so the lab memoises masks per predicate)."""

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        """Bool `[rows, pos]`, False at every unscorable (BOS or pad) position."""
        raise NotImplementedError

    def check(self, vocab: Vocabulary) -> None:
        """Raise ValueError with a fix when the predicate cannot mean what was written."""
        for part in self.parts_to_check():
            part.check(vocab)

    def parts_to_check(self) -> Sequence[Predicate]:
        """The sub-predicates `check` recurses into."""
        return ()

    def describe(self) -> str:
        raise NotImplementedError

    def target_table(self, vocab: Vocabulary) -> torch.Tensor:
        """Bool per token id: the tokens at which this predicate can hold (perturbation word
        pools read it). Exact for a token predicate; for a context form, what the target token
        itself must be; all True when any token can be. Only token predicates have the exact
        `token_table`."""
        return torch.ones(len(vocab), dtype=torch.bool)

    def holds_for(self, ids: Sequence[int], position: int, vocab: Vocabulary) -> bool:
        """The predicate at one position of one token sequence (no BOS handling)."""
        tokens = torch.tensor([list(ids)], dtype=torch.long)
        batch = TokenBatch(tokens, torch.ones_like(tokens, dtype=torch.bool), has_bos=False)
        return bool(self.mask(batch, vocab)[0, position])


class TokenPredicate(Predicate):
    """A predicate that looks at the token alone: decided once per vocabulary entry."""

    def token_table(self, vocab: Vocabulary) -> torch.Tensor:
        """Bool per token id (a fresh copy: callers may modify it)."""
        # Memoised per (vocabulary, predicate): predicates are frozen dataclasses, so equal
        # predicates share one table and different ones never do.
        return vocab.memo(("token_table", self), lambda: self.build_table(vocab)).clone()

    def build_table(self, vocab: Vocabulary) -> torch.Tensor:
        """Compute the bool-per-token-id table (`token_table` memoises it)."""
        raise NotImplementedError

    def target_table(self, vocab: Vocabulary) -> torch.Tensor:
        return self.token_table(vocab)

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        return self.token_table(vocab)[batch.tokens] & batch.mask


def shifted(mask: torch.Tensor, offset: int) -> torch.Tensor:
    """`out[:, p] = mask[:, p + offset]`, False where `p + offset` is outside the row: what
    holds `offset` tokens later (negative: earlier) than each position. Works for int tensors
    too (filled with 0)."""
    out = torch.zeros_like(mask)
    width = mask.shape[1]
    if offset > 0 and offset < width:
        out[:, :-offset] = mask[:, offset:]
    elif offset < 0 and -offset < width:
        out[:, -offset:] = mask[:, :offset]
    elif offset == 0:
        out = mask.clone()
    return out


def run_positions(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each True position, its 1-based place in its maximal run of True positions counted
    from the run's start and from the run's end (0 where the mask is False)."""
    return _place_from_start(mask), _place_from_start(mask.flip(1)).flip(1)


def _place_from_start(mask: torch.Tensor) -> torch.Tensor:
    index = torch.arange(mask.shape[1]).expand_as(mask)
    # The latest False position at or before each position; the run began right after it.
    last_break = torch.where(mask, torch.full_like(index, -1), index).cummax(dim=1).values
    return torch.where(mask, index - last_break, torch.zeros_like(index))


def describe_places(places: tuple[int, ...]) -> str:
    """'1st or 2nd', 'last' ... for 1-based places (negative: from the end)."""
    return " or ".join(_ordinal(p) for p in places)


def _ordinal(place: int) -> str:
    if place == -1:
        return "last"
    if place < 0:
        return f"{_ordinal(-place)}-from-last"
    suffix = "th" if 10 <= place % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(place % 10, "th")
    return f"{place}{suffix}"
