"""Token lists with a marked trigger, and the edits that perturbation strategies apply to them.

A `TokenText` is a text cut into pieces (usually the model's tokens, decoded) with at most one
piece marked as the trigger. Edits are small frozen dataclasses that Hypothesis draws; each
records what it did, so a shrunk counterexample reads as a list of edits.
An edit's `at` is taken modulo the number of places it may act on, so every drawn integer is
valid and shrinking it towards 0 moves the edit towards the first such place. A list of edits
is applied all at once, every edit addressing the places of the same unedited text: dropping
one edit while shrinking leaves the meaning of the others unchanged (a later edit of the same
token wins).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

from neurontest.claims.marked import strip_marks

_WORD = re.compile(r"\s*\S+")


@dataclass(frozen=True)
class TokenText:
    """Pieces of a text, the index of the trigger piece (None: no trigger), and the edits made."""

    tokens: tuple[str, ...]
    trigger: int | None = None
    edits: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.trigger is not None and not 0 <= self.trigger < len(self.tokens):
            raise ValueError(f"trigger {self.trigger} is outside {len(self.tokens)} tokens")

    @classmethod
    def from_marked(cls, source: str) -> TokenText:
        """Whitespace-separated words (each keeps its leading space); the word holding the
        first `[[mark]]` is the trigger. Model-free: claims cut texts with the tokenizer."""
        text, spans = strip_marks(source)
        words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
        trigger = None
        if spans:
            start = spans[0][0]
            trigger = next(i for i, (s, e, _) in enumerate(words) if s <= start < e)
        return cls(tuple(w for _, _, w in words), trigger)

    @property
    def trigger_token(self) -> str | None:
        return None if self.trigger is None else self.tokens[self.trigger]

    def text(self) -> str:
        return "".join(self.tokens)

    def marked(self) -> str:
        """The text with the trigger piece wrapped in [[ ]] (after its leading space)."""
        parts = list(self.tokens)
        if self.trigger is not None:
            word = parts[self.trigger]
            stripped = word.lstrip()
            parts[self.trigger] = f"{word[: len(word) - len(stripped)]}[[{stripped}]]"
        return "".join(parts)

    def context_positions(self) -> list[int]:
        return [i for i in range(len(self.tokens)) if i != self.trigger]

    def __repr__(self) -> str:
        edits = f", edits={list(self.edits)!r}" if self.edits else ""
        return f"TokenText({self.marked()!r}{edits})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis' pretty-printer
        printer.text(repr(self))


def respace(word: str, like: str) -> str:
    """`word` with the leading whitespace of `like` (so " March" -> " May", "March" -> "May")."""
    stripped = word.strip()
    return like[: len(like) - len(like.lstrip())] + stripped


class Edit:
    """One perturbation; `resolve` says where and what against the unedited text, or None."""

    def resolve(self, text: TokenText) -> tuple[str, int, str | None, str] | None:
        """(kind "token" | "insert" | "insert-trigger", place, new piece or None to delete, note)."""
        raise NotImplementedError

    def apply(self, text: TokenText) -> TokenText:
        return apply_edits(text, [self])


def _context_place(text: TokenText, at: int) -> int | None:
    places = text.context_positions()
    return places[at % len(places)] if places else None


@dataclass(frozen=True)
class DeleteToken(Edit):
    at: int

    def resolve(self, text: TokenText) -> tuple[str, int, str | None, str] | None:
        i = _context_place(text, self.at)
        return None if i is None else ("token", i, None, f"delete {text.tokens[i]!r}")


@dataclass(frozen=True)
class InsertToken(Edit):
    at: int
    word: str

    def resolve(self, text: TokenText) -> tuple[str, int, str | None, str] | None:
        i = self.at % (len(text.tokens) + 1)
        return ("insert", i, self.word, f"insert {self.word!r} at {i}")


@dataclass(frozen=True)
class ReplaceToken(Edit):
    at: int
    word: str

    def resolve(self, text: TokenText) -> tuple[str, int, str | None, str] | None:
        i = _context_place(text, self.at)
        if i is None or text.tokens[i] == self.word:
            return None
        return ("token", i, self.word, f"replace {text.tokens[i]!r} -> {self.word!r}")


_CASES = {"lower": str.lower, "upper": str.upper, "title": str.title}


@dataclass(frozen=True)
class ChangeCase(Edit):
    at: int
    style: str  # lower | upper | title

    def resolve(self, text: TokenText) -> tuple[str, int, str | None, str] | None:
        i = _context_place(text, self.at)
        if i is None:
            return None
        old = text.tokens[i]
        new = _CASES[self.style](old)
        return None if new == old else ("token", i, new, f"{self.style}case {old!r} -> {new!r}")


@dataclass(frozen=True)
class ChangeSpacing(Edit):
    """Drop the leading whitespace of a context token, or give it one space if it has none."""

    at: int

    def resolve(self, text: TokenText) -> tuple[str, int, str | None, str] | None:
        i = _context_place(text, self.at)
        if i is None:
            return None
        old = text.tokens[i]
        new = old.lstrip() if old[:1].isspace() else " " + old
        return None if not new else ("token", i, new, f"respace {old!r} -> {new!r}")


@dataclass(frozen=True)
class SwapTrigger(Edit):
    """Put another member of the claimed set at the trigger (keeping its leading space)."""

    word: str

    def resolve(self, text: TokenText) -> tuple[str, int, str | None, str] | None:
        return _set_trigger(text, self.word, "swap trigger")


@dataclass(frozen=True)
class ReplaceTrigger(Edit):
    """Put a non-member at the trigger (keeping its leading space)."""

    word: str

    def resolve(self, text: TokenText) -> tuple[str, int, str | None, str] | None:
        return _set_trigger(text, self.word, "replace trigger")


@dataclass(frozen=True)
class InsertTrigger(Edit):
    """Insert `word` as the trigger of a text that has none (at its `at`-th gap)."""

    at: int
    word: str

    def resolve(self, text: TokenText) -> tuple[str, int, str | None, str] | None:
        if text.trigger is not None:
            return None
        i = self.at % (len(text.tokens) + 1)
        word = self.word if i == 0 else respace(self.word, " ")
        return ("insert-trigger", i, word, f"insert trigger {word!r} at {i}")


def _set_trigger(text: TokenText, word: str, what: str) -> tuple[str, int, str | None, str] | None:
    if text.trigger is None:
        return None
    old = text.tokens[text.trigger]
    new = respace(word, old)
    return None if new == old else ("token", text.trigger, new, f"{what} {old!r} -> {new!r}")


def apply_edits(text: TokenText, edits: Sequence[Edit]) -> TokenText:
    """Apply `edits` together, each resolved against `text` itself (see the module docstring)."""
    changes: dict[int, tuple[str | None, str]] = {}
    inserts: dict[int, list[tuple[str, str, bool]]] = defaultdict(list)
    for edit in edits:
        resolved = edit.resolve(text)
        if resolved is None:
            continue
        kind, i, new, note = resolved
        if kind == "token":
            changes[i] = (new, note)
        else:
            inserts[i].append((new or "", note, kind == "insert-trigger"))
    if not changes and not inserts:
        return text
    tokens: list[str] = []
    notes: list[str] = []
    trigger = None
    for i in range(len(text.tokens) + 1):
        for word, note, is_trigger in inserts.get(i, []):
            if is_trigger:
                if trigger is not None:
                    continue
                trigger = len(tokens)
            tokens.append(word)
            notes.append(note)
        if i == len(text.tokens):
            break
        word = text.tokens[i]
        if i in changes:
            new, note = changes[i]
            notes.append(note)
            if new is None:
                continue
            word = new
        if i == text.trigger:
            trigger = len(tokens)
        tokens.append(word)
    return TokenText(tuple(tokens), trigger, text.edits + tuple(notes))
