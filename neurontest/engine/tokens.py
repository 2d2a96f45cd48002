"""Texts to padded token batches with an explicit mask, so no metric ever counts a pad position.

Batches are right-padded: in a causal model a real token never attends to a later position, so
right padding leaves every real position's activations exactly as in an unpadded run, without
relying on attention masks that not every bridge forwards.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import torch


@dataclass
class TokenBatch:
    """Token ids `[batch, pos]` (right-padded) and `mask` (True where a real, scorable token is).

    Position 0 holds BOS when `has_bos`; BOS is never scorable (it is an attention sink whose
    activations say nothing about the text), so `mask[:, 0]` is False then.
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    has_bos: bool = True
    texts: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def lengths(self) -> torch.Tensor:
        """Number of real tokens per row, BOS included."""
        return self.mask.sum(dim=1) + int(self.has_bos)

    def select(self, rows: Any) -> TokenBatch:
        texts = None if self.texts is None else [self.texts[int(i)] for i in rows]
        return TokenBatch(self.tokens[rows], self.mask[rows], self.has_bos, texts, dict(self.meta))

    def str_tokens(self, tokenizer: Any, row: int) -> list[str]:
        """The decoded string of each real token in `row` (BOS included when present)."""
        n = int(self.lengths[row])
        return [tokenizer.decode([int(t)]) for t in self.tokens[row, :n]]


def bos_id(tokenizer: Any) -> int | None:
    return tokenizer.bos_token_id


def pad_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def encode(tokenizer: Any, text: str, *, prepend_bos: bool = True) -> list[int]:
    """Token ids of one text, with the model's BOS in front when asked (and one exists)."""
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    bos = bos_id(tokenizer)
    return ([bos] if prepend_bos and bos is not None else []) + ids


def batch_from_ids(
    rows: Sequence[Sequence[int]],
    tokenizer: Any,
    *,
    has_bos: bool = True,
    texts: list[str] | None = None,
) -> TokenBatch:
    """Right-pad lists of token ids into a `TokenBatch`."""
    import torch

    if not rows:
        raise ValueError("no texts to encode")
    width = max(len(r) for r in rows)
    tokens = torch.full((len(rows), width), pad_id(tokenizer), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, row in enumerate(rows):
        tokens[i, : len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[i, : len(row)] = True
    if has_bos:
        mask[:, 0] = False
    return TokenBatch(tokens, mask, has_bos, texts)


def encode_texts(tokenizer: Any, texts: Sequence[str], *, prepend_bos: bool = True) -> TokenBatch:
    """Encode texts into one right-padded `TokenBatch`."""
    has_bos = prepend_bos and bos_id(tokenizer) is not None
    rows = [encode(tokenizer, t, prepend_bos=has_bos) for t in texts]
    return batch_from_ids(rows, tokenizer, has_bos=has_bos, texts=list(texts))


def single_token_id(tokenizer: Any, token: str) -> int:
    """The id of `token` if the tokenizer keeps it as one token; else a ValueError naming the split."""
    ids = tokenizer(token, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        pieces = [tokenizer.decode([i]) for i in ids]
        raise ValueError(
            f"{token!r} is not a single token: the tokenizer splits it into {pieces!r}; "
            f"name one of those pieces, or use a regex or context predicate instead"
        )
    return int(ids[0])


_PROBE = "The quick brown fox jumps over the lazy dog. 1234 Zürich naïve 東京"


def tokenizer_identity(tokenizer: Any) -> str:
    """Class name, vocabulary size, BOS/pad ids and a hash of a probe string's ids."""
    vocab = len(tokenizer) if hasattr(tokenizer, "__len__") else tokenizer.vocab_size
    probe = list(tokenizer(_PROBE, add_special_tokens=False)["input_ids"])
    # BOS/pad ids too: swapping BOS (e.g. <|endoftext|> for <|im_start|>) changes every row.
    pad = getattr(tokenizer, "pad_token_id", None)
    digest = hashlib.sha256(json.dumps(probe, ensure_ascii=False).encode()).hexdigest()[:16]
    return f"{type(tokenizer).__name__}:{vocab}:{bos_id(tokenizer)}:{pad}:{digest}"
