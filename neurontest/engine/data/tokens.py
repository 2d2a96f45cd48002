"""Texts to padded token batches with an explicit mask, so no metric ever counts a pad position.

Batches are right-padded: in a causal model a real token never attends to a later position, so
right padding leaves every real position's activations exactly as in an unpadded run, without
relying on attention masks that not every bridge forwards.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

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
        """The display string of each real token in `row` (BOS included when present): see
        `display_tokens`."""
        n = int(self.lengths[row])
        return display_tokens(tokenizer, self.tokens[row, :n].tolist())


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
        pieces = [lone_token_text(tokenizer, i) for i in ids]  # byte pieces by their form
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


# -- display strings ------------------------------------------------------------------------------
# A byte-level BPE (SmolLM2's) may split one character (é, –, 月, an emoji) over several tokens;
# each of those decodes alone to U+FFFD. Display strings merge such pieces back into characters.

_REPLACEMENT = "\ufffd"
#: The most tokens one merge decodes together. A character spans at most 4 tokens (4 UTF-8
#: bytes); a longer span only forms where every token boundary falls inside a character, which
#: real text does not do (2 at most on Japanese, Korean and emoji text), so the cap only bounds
#: the cost on junk: past it the span is shown as it decodes.
_MAX_SPAN = 16


def display_tokens(tokenizer: Any, ids: Sequence[int], *,
                   strings: Sequence[str] | None = None) -> list[str]:
    """One display string per token of `ids`; joined, they give the decoded text.

    A token that decodes alone to whole characters shows exactly that (so on a tokenizer without
    byte pieces this is per-token decoding). Tokens that only together form a character are
    merged: the character shows on the token that completes it and the tokens before it show ""
    (the completing token is where a causal model has read the whole character, so the
    character sits over the value that saw it). U+FFFD remains only where the bytes really are
    invalid, e.g. a character cut by the start or end of `ids`.

    Costs one batched per-token decode (none when `strings`, each id's decoded string, e.g.
    `Vocabulary.strings`, is given) plus a few short decodes per split character.
    """
    return _merged(tokenizer, ids, strings)[0]


def merged_pieces(tokenizer: Any, ids: Sequence[int], *,
                  strings: Sequence[str] | None = None) -> list[str]:
    """For hover text: the tokenizer's own form of each token that `display_tokens` merged with
    its neighbours (byte pieces as `<0xE2>`), "" for tokens shown as they decode alone; [] when
    no token of `ids` was merged, so rows without split characters carry nothing extra."""
    merged = _merged(tokenizer, ids, strings)[1]
    if not any(merged):
        return []
    return [token_form(tokenizer, int(i)) if m else "" for i, m in zip(ids, merged)]


def _merged(tokenizer: Any, ids: Sequence[int],
            strings: Sequence[str] | None) -> tuple[list[str], list[bool]]:
    """Display strings of `ids` and which of them were merged with a neighbour."""
    ids = [int(i) for i in ids]
    if strings is not None and all(i < len(strings) for i in ids):
        singles = [strings[i] for i in ids]
    else:
        singles = tokenizer.batch_decode([[i] for i in ids]) if ids else []
    shown = list(singles)
    start = 0
    while start < len(ids):
        if _REPLACEMENT not in singles[start]:
            start += 1
            continue
        # A split character's pieces all decode to U+FFFD alone, so they lie in one such run.
        stop = start
        while stop < len(ids) and _REPLACEMENT in singles[stop]:
            stop += 1
        _merge_run(tokenizer, ids, start, stop, shown)
        start = stop
    return shown, [s != single for s, single in zip(shown, singles)]


def _merge_run(tokenizer: Any, ids: list[int], start: int, stop: int, shown: list[str]) -> None:
    """Fill `shown[start:stop]` by decoding growing spans of the run: each token shows the text
    its span completes. A span ends at a token after which the decoded text is whole."""
    first, emitted = start, ""  # the span's first token; what its tokens show so far
    for k in range(start, stop):
        text = tokenizer.decode(ids[first : k + 1])
        last = k == stop - 1 or k + 1 - first >= _MAX_SPAN
        # An unfinished character decodes to trailing U+FFFD (one for the UTF-8 decoder of
        # byte-level BPE, one per byte for SentencePiece's byte fallback): hold them back.
        pending = text.endswith(_REPLACEMENT) and not last
        ready = text.rstrip(_REPLACEMENT) if pending else text
        # Decoding more tokens only appends text; commonprefix guards decoders that do not.
        shown[k] = ready[len(os.path.commonprefix([ready, emitted])):]
        emitted = ready
        if not pending:
            first, emitted = k + 1, ""


def lone_token_text(tokenizer: Any, token_id: int) -> str:
    """A token shown without neighbours (a table row, a deleted token): its decoded string, or
    for a byte piece, which decodes alone to U+FFFD, its own form (`token_form`)."""
    text = tokenizer.decode([token_id])
    return token_form(tokenizer, token_id) if _REPLACEMENT in text else text


def token_form(tokenizer: Any, token_id: int) -> str:
    """A token's own form for a reader, e.g. for a byte piece that decodes alone to U+FFFD:
    byte-level BPE forms ("âĢ") as their text with the bytes of partial characters written
    `<0xE2><0x80>`; any other form (SentencePiece already writes byte pieces as `<0xE2>`) as
    the tokenizer's `convert_ids_to_tokens` gives it."""
    form = str(tokenizer.convert_ids_to_tokens(token_id))
    raw = _byte_level_bytes(form)
    # Trust the byte reading only when it decodes as the tokenizer decodes the token.
    if raw is None or raw.decode("utf-8", "replace") != tokenizer.decode([token_id]):
        return form
    return _bytes_text(raw)


def _byte_level_bytes(form: str) -> bytes | None:
    """The bytes a GPT-2 style byte-level token form stands for (None: not such a form)."""
    table = _byte_level_table()
    try:
        return bytes(table[ch] for ch in form)
    except KeyError:
        return None


@functools.lru_cache(maxsize=1)
def _byte_level_table() -> dict[str, int]:
    """GPT-2's byte -> printable character table, inverted (the `bytes_to_unicode` of every
    byte-level BPE): printable Latin-1 bytes stand for themselves, the rest for chr(256 + n)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[chr(byte)] = byte
        else:
            table[chr(256 + extra)] = byte
            extra += 1
    return table


def _bytes_text(raw: bytes) -> str:
    """`raw` decoded, each byte that is not part of a whole character written as `<0xNN>`."""
    out = []
    while raw:
        try:
            out.append(raw.decode("utf-8"))
            break
        except UnicodeDecodeError as exc:
            out.append(raw[: exc.start].decode("utf-8"))
            out.append("".join(f"<0x{b:02X}>" for b in raw[exc.start : exc.end]))
            raw = raw[exc.end :]
    return "".join(out)
