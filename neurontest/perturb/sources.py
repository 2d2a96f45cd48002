"""Where perturbation words come from, for one model: members and non-members of a claimed set,
frequent corpus tokens, embedding neighbours; and turning `TokenText`s into token ids.

Words are decoded vocabulary strings, stripped and de-duplicated (edits put the trigger's own
leading space back). Only "clean" tokens are used: not special, not empty, no replacement char.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch

from neurontest.claims.marked import mark_positions
from neurontest.claims.predicates import TokenSet, vocabulary
from neurontest.engine.data.tokens import display_tokens
from neurontest.perturb.strategies import WordPool
from neurontest.perturb.text import TokenText

if TYPE_CHECKING:

    from neurontest.claims.predicates import Predicate, Vocabulary
    from neurontest.lab import Lab


def token_table(predicate: Predicate, vocab: Vocabulary) -> torch.Tensor:
    """Bool per token id: the tokens the predicate's target can be (a context form's target)."""
    return predicate.target_table(vocab)


def clean_ids(vocab: Vocabulary) -> list[int]:
    """Ids of the clean tokens, ascending (a fresh list: callers may modify it)."""
    return list(vocab.memo("clean_ids", lambda: tuple(_clean_ids(vocab))))


def clean_mask(vocab: Vocabulary) -> torch.Tensor:
    """Bool per token id, True at the clean tokens (a fresh copy: callers may modify it)."""

    def build() -> torch.Tensor:
        mask = torch.zeros(len(vocab), dtype=torch.bool)
        mask[clean_ids(vocab)] = True
        return mask

    return vocab.memo("clean_mask", build).clone()


def _clean_ids(vocab: Vocabulary) -> list[int]:
    special = set(getattr(vocab.tokenizer, "all_special_ids", []) or [])
    return [i for i, s in enumerate(vocab.strings)
            if i not in special and s.strip() and "\ufffd" not in s]


def _words(vocab: Vocabulary, ids: Sequence[int]) -> list[str]:
    return list(dict.fromkeys(vocab.strings[i].strip() for i in ids))


def _clean_where(vocab: Vocabulary, table: torch.Tensor, value: bool) -> list[int]:
    # One tolist() instead of indexing the tensor per id: 49k tensor lookups cost ~0.1 s.
    flags = table.tolist()
    return [i for i in clean_ids(vocab) if flags[i] == value]


def members(predicate: Predicate, vocab: Vocabulary) -> WordPool:
    """Words the claim says the neuron fires on (a token set keeps its own order)."""
    # Memoised per (vocabulary, predicate): claims ask for the same pool at collection, when
    # building strategies and when excluding members from other pools.
    return vocab.memo(("members", predicate), lambda: _members(predicate, vocab))


def _members(predicate: Predicate, vocab: Vocabulary) -> WordPool:
    words = _words(vocab, _clean_where(vocab, token_table(predicate, vocab), True))
    if isinstance(predicate, TokenSet):
        present = set(words)
        listed = [t.strip() for t in predicate.tokens if t.strip() in present]
        words = list(dict.fromkeys(listed + words))
    return WordPool("members", tuple(words))


def vocab_non_members(predicate: Predicate, vocab: Vocabulary) -> WordPool:
    """Every clean vocabulary word the claim says the neuron does not fire on."""
    return vocab.memo(("vocab_non_members", predicate), lambda: _vocab_non_members(predicate, vocab))


def _vocab_non_members(predicate: Predicate, vocab: Vocabulary) -> WordPool:
    member_words = set(members(predicate, vocab).words)
    words = [w for w in _words(vocab, _clean_where(vocab, token_table(predicate, vocab), False))
             if w not in member_words]
    return WordPool("vocabulary non-members", tuple(words))


def corpus_words(lab: Lab, predicate: Predicate | None = None, k: int = 200) -> WordPool:
    """The `k` most frequent clean corpus words, most frequent first (non-members only when a
    predicate is given)."""
    batch = lab.sample.batch
    counts = torch.bincount(batch.tokens[batch.mask].flatten(), minlength=len(lab.vocab))
    clean = torch.zeros(len(counts), dtype=torch.bool)
    clean[: len(lab.vocab)] = clean_mask(lab.vocab)  # bincount's minlength: counts cover the vocab
    if predicate is not None:
        clean &= ~token_table(predicate, lab.vocab)
    order = torch.argsort(counts.masked_fill(~clean, -1), descending=True)[: k * 3]
    keep = ((counts[order] > 0) & clean[order]).tolist()
    ids = [i for i, kept in zip(order.tolist(), keep) if kept]
    words = [w for w in _words(lab.vocab, ids) if w][:k]
    exclude = set(members(predicate, lab.vocab).words) if predicate is not None else set()
    return WordPool("corpus words", tuple(w for w in words if w not in exclude))


def neighbours(lab: Lab, predicate: Predicate, anchors: Sequence[str], k: int = 20) -> WordPool | None:
    """Non-members nearest (cosine on the embedding matrix W_E) to the anchor words, interleaved
    by rank: the first neighbour of each anchor, then the second, ... (None if there are none)."""
    vocab = lab.vocab
    table = token_table(predicate, vocab)
    allowed = clean_mask(vocab)
    allowed &= ~table[: len(allowed)]
    with torch.inference_mode():
        embed = torch.nn.functional.normalize(lab.model.W_E.detach().float().cpu(), dim=-1)
        allowed = allowed[: embed.shape[0]]
        index = Encoder(lab.tokenizer)
        ranked = []
        for word in dict.fromkeys(anchors):
            ids = index.encode_piece(word)
            if len(ids) != 1:
                continue
            sims = (embed @ embed[ids[0]]).masked_fill(~allowed, float("-inf"))
            ranked.append(torch.topk(sims, min(k, int(allowed.sum()))).indices.tolist())
    ordered = [ids[r] for r in range(k) for ids in ranked if r < len(ids)]
    member_words = set(members(predicate, vocab).words)
    words = [w for w in _words(vocab, ordered) if w not in member_words]
    return WordPool("embedding neighbours", tuple(words)) if words else None


class Encoder:
    """Token ids for `TokenText` pieces: a piece that is one vocabulary string maps to its id,
    anything else (a case-changed word, a user's word) is tokenized on its own."""

    _BY_STRING: dict[int, dict[str, int]] = {}

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        key = id(tokenizer)
        if key not in self._BY_STRING:
            vocab = vocabulary(tokenizer)
            special = set(getattr(tokenizer, "all_special_ids", []) or [])
            table: dict[str, int] = {}
            for i, s in enumerate(vocab.strings):
                if i not in special and "\ufffd" not in s:
                    table.setdefault(s, i)
            self._BY_STRING[key] = table
        self.by_string = dict(self._BY_STRING[key])

    def token_text(self, source: str) -> TokenText:
        """A [[marked]] text cut into the model's tokens; the first mark is the trigger."""
        marked = mark_positions(self.tokenizer, source)
        # A character split over byte pieces is one piece here: each byte piece alone decodes
        # to U+FFFD, and re-encoding "\ufffd" cannot give back the right bytes. display_tokens
        # shows "" on the pieces before the one completing a character: they join it.
        shown = display_tokens(self.tokenizer, list(marked.ids))
        groups: list[list[int]] = [[]]
        for index, text in enumerate(shown):
            groups[-1].append(index)
            if text:
                groups.append([])
        groups = [g for g in groups if g]
        pieces = [self.tokenizer.decode([marked.ids[i] for i in g]) for g in groups]
        for piece, group in zip(pieces, groups):
            if len(group) == 1:
                self.by_string.setdefault(piece, int(marked.ids[group[0]]))
        trigger = None
        if marked.positions:
            trigger = next(k for k, g in enumerate(groups) if marked.positions[0] in g)
        return TokenText(tuple(pieces), trigger)

    def encode_piece(self, piece: str) -> list[int]:
        if piece in self.by_string:
            return [self.by_string[piece]]
        return list(self.tokenizer(piece, add_special_tokens=False)["input_ids"])

    def encode(self, text: TokenText) -> tuple[tuple[int, ...], int | None] | None:
        """(ids without BOS, index of the trigger id); None if the trigger is not one token."""
        ids: list[int] = []
        trigger = None
        for i, piece in enumerate(text.tokens):
            part = self.encode_piece(piece)
            if i == text.trigger:
                if len(part) != 1:
                    return None
                trigger = len(ids)
            ids += part
        return (tuple(ids), trigger) if ids else None
