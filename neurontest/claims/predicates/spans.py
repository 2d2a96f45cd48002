"""Forms over stretches of tokens: runs, bracketed spans and whole words.

    InRun(digit, lengths=(4, 4), places=(1, 2))   1st or 2nd token of a run of exactly 4 digits
    Inside(open_paren, close_paren)               strictly between "(" and its ")"
    Word(regex="^(1\\d{3}|20\\d{2})$")              a token of a word (one or more tokens) whose
                                                  text matches

All are computed with whole-batch torch ops; a `Word`'s text test runs once per distinct word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from neurontest.claims.predicates.core import Predicate, describe_places, run_positions, shifted
from neurontest.engine.data.vocabulary import Vocabulary

if TYPE_CHECKING:

    from neurontest.engine.data.tokens import TokenBatch


def _at_places(from_start: torch.Tensor, from_end: torch.Tensor,
               places: tuple[int, ...]) -> torch.Tensor:
    """True where the 1-based place (negative: from the end) is one of `places`."""
    out = from_start < 0
    for place in places:
        out |= (from_start == place) if place > 0 else (from_end == -place)
    return out


@dataclass(frozen=True)
class InRun(Predicate):
    """The position is in a maximal run of consecutive tokens that all satisfy `of`, the run is
    `min_length`..`max_length` tokens long (None: no upper bound), and, when `places` is set, the
    position's 1-based place in the run is one of them (negative places count from the end)."""

    of: Predicate
    min_length: int = 1
    max_length: int | None = None
    places: tuple[int, ...] | None = None

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        inside = self.of.mask(batch, vocab)
        from_start, from_end = run_positions(inside)
        length = from_start + from_end - 1
        out = inside & (length >= self.min_length)
        if self.max_length is not None:
            out &= length <= self.max_length
        if self.places is not None:
            out &= _at_places(from_start, from_end, self.places)
        return out

    def target_table(self, vocab: Vocabulary) -> torch.Tensor:
        return self.of.target_table(vocab)

    def parts_to_check(self) -> tuple[Predicate, ...]:
        return (self.of,)

    def describe(self) -> str:
        if self.max_length == self.min_length:
            size = f"exactly {self.min_length}"
        elif self.max_length is None:
            size = f"at least {self.min_length}"
        else:
            size = f"{self.min_length} to {self.max_length}"
        place = "a" if self.places is None else f"the {describe_places(self.places)}"
        return f"{place} token of a run of {size} tokens each ({self.of.describe()})"


@dataclass(frozen=True)
class Inside(Predicate):
    """The position lies strictly inside a span that a token satisfying `open` starts and a
    token satisfying `close` ends, counting nesting from the start of the text: each `open`
    token adds a level, each `close` token removes one (never below zero), and a position is
    inside when the level is at least 1 both before and after its own token. When `open` and
    `close` are the same predicate (quotes) each such token toggles in or out instead."""

    open: Predicate
    close: Predicate

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        opens = self.open.mask(batch, vocab)
        if self.open == self.close:
            count = opens.long().cumsum(dim=1)
            return ((count - opens.long()) % 2 == 1) & ~opens & batch.mask
        step = opens.long() - self.close.mask(batch, vocab).long()
        total = step.cumsum(dim=1)
        # The level never drops below zero: subtract the deepest dip so far (a reflected walk).
        after = total - total.cummin(dim=1).values.clamp(max=0)
        before = shifted(after, -1)  # level 0 before the first token
        return (torch.minimum(before, after) >= 1) & batch.mask

    def parts_to_check(self) -> tuple[Predicate, ...]:
        return (self.open, self.close)

    def describe(self) -> str:
        return f"inside a span opened by ({self.open.describe()}) and closed by ({self.close.describe()})"


WORD_PIECE = re.compile(r"\w+")


@dataclass(frozen=True)
class Word(Predicate):
    """The position is a token of a whole word whose text is one of `words` (or matches
    `regex`, Python `re.search`) and, when `places` is set, its 1-based place among the word's
    tokens is one of them (negative: from the end).

    A word is a maximal run of word-character tokens (letters, digits, `_`; the first may carry
    one leading space) in which no token after the first starts with a space: " Amsterdam" split
    into " Amster" + "dam" is one word, and so are the four digit tokens of "1999". Its text is
    the tokens joined, without the leading space."""

    words: tuple[str, ...] | None = None
    regex: str | None = None
    case_sensitive: bool = True
    places: tuple[int, ...] | None = None

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        wordish, spaced = self._tables(vocab)
        piece = wordish[batch.tokens] & batch.mask
        continues = piece & shifted(piece, -1) & ~spaced[batch.tokens]
        starts = piece & ~continues
        place = run_positions(continues)[0] + 1
        # Tokens left in the word: the run of "the next token continues my word" from here.
        to_end = run_positions(shifted(continues, 1))[1] + 1
        rows, cols = starts.nonzero(as_tuple=True)
        if rows.numel() == 0:
            return piece
        lengths = to_end[rows, cols]
        steps = torch.arange(int(lengths.max()))
        take = (cols[:, None] + steps).clamp(max=batch.tokens.shape[1] - 1)
        ids = torch.where(steps < lengths[:, None], batch.tokens[rows[:, None], take],
                          torch.full_like(take, -1))
        # The text test runs once per distinct word, like a token predicate once per token id.
        distinct, which = torch.unique(ids, dim=0, return_inverse=True)
        verdict = torch.tensor([self._matches(vocab, tuple(r)) for r in distinct.tolist()],
                               dtype=torch.bool)[which]
        word_index = starts.long().cumsum(dim=1)  # which word of its row each token is in
        by_word = torch.zeros(batch.tokens.shape[0], batch.tokens.shape[1] + 1, dtype=torch.bool)
        by_word[rows, word_index[rows, cols]] = verdict
        out = piece & by_word.gather(1, word_index)
        if self.places is not None:
            out &= _at_places(place, to_end, self.places)
        return out

    def _tables(self, vocab: Vocabulary) -> tuple[torch.Tensor, torch.Tensor]:
        """Per token id: is it a word piece, does it start with a space (memoised)."""

        def build() -> tuple[torch.Tensor, torch.Tensor]:
            wordish = [bool(WORD_PIECE.fullmatch(s[1:] if s[:1].isspace() else s)) for s in vocab.strings]
            spaced = [s[:1].isspace() for s in vocab.strings]
            return torch.tensor(wordish, dtype=torch.bool), torch.tensor(spaced, dtype=torch.bool)

        return vocab.memo("Word._tables", build)

    def _matches(self, vocab: Vocabulary, ids: tuple[int, ...]) -> bool:
        verdicts: dict[tuple[int, ...], bool] = vocab.memo(("Word.verdicts", self), dict)
        if ids not in verdicts:
            text = "".join(vocab.strings[i] for i in ids if i >= 0)
            verdicts[ids] = self.matches_text(text[1:] if text[:1].isspace() else text)
        return verdicts[ids]

    def matches_text(self, text: str) -> bool:
        """Whether a word's text (no leading space) is what the predicate names."""
        if self.regex is not None:
            return bool(re.search(self.regex, text))
        if self.case_sensitive:
            return text in (self.words or ())
        return text.casefold() in {w.casefold() for w in self.words or ()}

    def check(self, vocab: Vocabulary) -> None:
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"word regex {self.regex!r} does not compile: {exc}") from None
        for word in self.words or ():
            if not WORD_PIECE.fullmatch(word):
                raise ValueError(f"word {word!r} is not one word (letters, digits, _): list "
                                 f"single words, or use `sequence:` for several")

    def describe(self) -> str:
        what = (f"matching /{self.regex}/" if self.regex is not None
                else "in [" + ", ".join(repr(w) for w in self.words or ()) + "]")
        case = "" if self.case_sensitive else " (any case)"
        place = "a" if self.places is None else f"the {describe_places(self.places)}"
        return f"{place} token of a word {what}{case}"

