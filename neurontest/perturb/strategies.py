"""Hypothesis strategies that perturb texts around a trigger token, built from small named pieces.

    texts = token_texts(["we met in [[March]] 2020", "in [[May]] the rain came"])
    edits = context_edits(words=[" the", " cat"]) | swap_trigger(["April", "June"])

    @given(perturbed(texts, edits, max_edits=3))
    def test_still_a_month(t: TokenText): ...

Edit pieces (`delete_token()`, `insert_token(words)`, ...) draw `Edit` objects; `perturbed`
draws a base text and a list of edits and applies them, so a shrunk example is the smallest
edit list that still breaks a property (Hypothesis deletes list elements while shrinking), with
the first base text and the first words of each pool. Put the most natural texts and words first.
Every piece is a `@composite` function, so reprs read like the calls that built them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from hypothesis import strategies as st

from neurontest.perturb.templates import template_slots
from neurontest.perturb.text import (
    ChangeCase, ChangeSpacing, DeleteToken, Edit, InsertToken, InsertTrigger, ReplaceToken,
    ReplaceTrigger, SwapTrigger, TokenText, apply_edits,
)

_PLACES = st.integers(min_value=0, max_value=1023)


@dataclass(frozen=True)
class WordPool:
    """Named words for insertions and replacements; the repr stays short in strategy reprs."""

    name: str
    words: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.words:
            raise ValueError(f"word pool {self.name!r} is empty")

    def __repr__(self) -> str:
        shown = ", ".join(repr(w) for w in self.words[:3])
        return f"{self.name}[{shown}{', ...' if len(self.words) > 3 else ''}] ({len(self.words)} words)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis' pretty-printer
        printer.text(repr(self))

    @functools.cached_property
    def sampled(self) -> st.SearchStrategy[str]:
        """`sampled_from(words)`, built once per pool: Hypothesis labels each new sampled_from by
        scanning all its elements, and the edit pieces draw a word hundreds of times per claim
        from pools of up to ~40k vocabulary words."""
        return st.sampled_from(self.words)


def pool(words: Sequence[str] | WordPool, name: str = "words") -> WordPool:
    """A `WordPool` from a list (a pool is returned as it is)."""
    return words if isinstance(words, WordPool) else WordPool(name, tuple(dict.fromkeys(words)))


def _word(words: Sequence[str] | WordPool) -> st.SearchStrategy[str]:
    return pool(words).sampled


# -- edits of the context (never the trigger) -------------------------------------------------
@st.composite
def delete_token(draw: st.DrawFn) -> Edit:
    """Delete one token other than the trigger."""
    return DeleteToken(draw(_PLACES))


@st.composite
def insert_token(draw: st.DrawFn, words: Sequence[str] | WordPool) -> Edit:
    """Insert a word from `words` into any gap."""
    return InsertToken(draw(_PLACES), draw(_word(words)))


@st.composite
def replace_token(draw: st.DrawFn, words: Sequence[str] | WordPool) -> Edit:
    """Replace one token other than the trigger by a word from `words`."""
    return ReplaceToken(draw(_PLACES), draw(_word(words)))


@st.composite
def change_case(draw: st.DrawFn) -> Edit:
    """Lower-, upper- or title-case one token other than the trigger."""
    return ChangeCase(draw(_PLACES), draw(st.sampled_from(["lower", "upper", "title"])))


@st.composite
def change_spacing(draw: st.DrawFn) -> Edit:
    """Add or drop the leading space of one token other than the trigger."""
    return ChangeSpacing(draw(_PLACES))


CONTEXT_EDITS = ("delete", "insert", "replace", "case", "spacing")


def context_edits(words: Sequence[str] | WordPool | None = None,
                  kinds: Iterable[str] = CONTEXT_EDITS) -> st.SearchStrategy[Edit]:
    """Any one of the chosen context edits (`insert`/`replace` need `words`)."""
    kinds = list(kinds)
    unknown = sorted(set(kinds) - set(CONTEXT_EDITS))
    if unknown:
        raise ValueError(f"unknown context edit(s) {unknown}; choose from {list(CONTEXT_EDITS)}")
    pieces = []
    for kind in kinds:
        if kind == "delete":
            pieces.append(delete_token())
        elif kind in ("insert", "replace"):
            if words is None:
                continue
            pieces.append(insert_token(words) if kind == "insert" else replace_token(words))
        elif kind == "case":
            pieces.append(change_case())
        else:
            pieces.append(change_spacing())
    if not pieces:
        raise ValueError("no context edit left: give `words` for insert/replace")
    return st.one_of(pieces)


# -- edits of the trigger -----------------------------------------------------------------------
@st.composite
def swap_trigger(draw: st.DrawFn, members: Sequence[str] | WordPool) -> Edit:
    """Swap the trigger for another member of the claimed set."""
    return SwapTrigger(draw(_word(members)))


@st.composite
def replace_trigger(draw: st.DrawFn, non_members: Sequence[str] | WordPool) -> Edit:
    """Replace the trigger by a word the claim says the neuron does not fire on."""
    return ReplaceTrigger(draw(_word(non_members)))


# -- texts ---------------------------------------------------------------------------------------
@st.composite
def token_texts(draw: st.DrawFn, texts: Sequence[TokenText | str]) -> TokenText:
    """One of `texts` (strings are cut at whitespace; `[[word]]` marks the trigger)."""
    if not texts:
        raise ValueError("token_texts needs at least one text")
    chosen = draw(st.sampled_from(list(texts)))
    return chosen if isinstance(chosen, TokenText) else TokenText.from_marked(chosen)


@st.composite
def perturbed(draw: st.DrawFn, texts: st.SearchStrategy[TokenText], edits: st.SearchStrategy[Edit],
              *, max_edits: int = 3, first: st.SearchStrategy[Edit] | None = None) -> TokenText:
    """A text from `texts` with up to `max_edits` edits from `edits` applied, after the
    mandatory edit `first` when one is given (e.g. `replace_trigger(...)`)."""
    text = draw(texts)
    if first is not None:
        text = draw(first).apply(text)
    return apply_edits(text, draw(st.lists(edits, max_size=max_edits)))


@st.composite
def random_contexts(draw: st.DrawFn, words: Sequence[str] | WordPool, *, min_size: int = 1,
                    max_size: int = 8) -> TokenText:
    """A trigger-less text of `min_size`..`max_size` words from `words`."""
    return TokenText(tuple(draw(st.lists(_word(words), min_size=min_size, max_size=max_size))))


@st.composite
def with_member_inserted(draw: st.DrawFn, contexts: st.SearchStrategy[TokenText],
                         members: Sequence[str] | WordPool) -> TokenText:
    """A context with a member inserted as its trigger (or swapped in, if it has a trigger)."""
    text = draw(contexts)
    if text.trigger is not None:
        return SwapTrigger(draw(_word(members))).apply(text)
    return InsertTrigger(draw(_PLACES), draw(_word(members))).apply(text)


@st.composite
def filled_templates(draw: st.DrawFn, templates: Sequence[str],
                     slots: Mapping[str, Sequence[str] | WordPool]) -> str:
    """A template such as "We met in [[{month}]] {year}" with each slot drawn from `slots`."""
    if not templates:
        raise ValueError("filled_templates needs at least one template")
    template = draw(st.sampled_from(list(templates)))
    values = {}
    for name in template_slots(template):
        if name not in slots:
            raise ValueError(f"template {template!r} has slot {{{name}}} with no values in `slots`")
        values[name] = draw(_word(slots[name])).strip()
    return template.format(**values)


def template_texts(templates: Sequence[str],
                   slots: Mapping[str, Sequence[str] | WordPool]) -> st.SearchStrategy[TokenText]:
    """`filled_templates` cut into words (the `[[...]]` slot is the trigger)."""
    return filled_templates(templates, slots).map(TokenText.from_marked)
