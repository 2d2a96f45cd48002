"""On-disk caches of the preparation every run repeats: vocabulary strings and tokenized samples.

A warm pytest run would otherwise decode all 49k token ids (about 1 s) and re-tokenize the corpus
(about 2 s) before reading a single cached activation. Entries live under
`cache_root()/prep`, are written atomically (neurontest.engine.store.files: safe under pytest-xdist and
kill -9), and each is checked on load against its record (types, shapes, a checksum; a
vocabulary also against a spread of ids re-decoded): a corrupt entry is dropped with a warning
and rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from neurontest.engine.data.tokens import TokenBatch, tokenizer_identity
from neurontest.engine.store.files import (
    drop_cache_entry,
    read_json_entry,
    read_torch_entry,
    sweep_once,
    write_cache_entry,
)
from neurontest.engine.store.paths import cache_root

# 2: entries carry a checksum (vocabularies were a bare list); older entries are rebuilt silently.
_FORMAT = 2
_SPOT_CHECKS = 64  # ids re-decoded on every load, so a changed decoder is caught
_VOCAB_KEY_VERSION = 1  # bump to re-key every vocabulary


def _folder() -> Path:
    folder = cache_root() / "prep"
    sweep_once(folder)  # temp files of writers killed mid-write
    return folder


def vocabulary_strings(tokenizer: Any) -> tuple[list[str], str | None]:
    """Each token id's decoded string, from the disk cache when this tokenizer's entry is there,
    and the entry's key (None for a tokenizer that cannot be cached).

    The key covers the tokenizer's identity (class, size, special ids, a probe's ids) and a hash of
    its whole token -> id table; loads also re-decode a spread of ids to catch decoder changes.
    """
    size = len(tokenizer)
    try:
        key = _vocab_key(tokenizer, size)
    except Exception:  # noqa: BLE001 - a tokenizer without get_vocab() just is not cached
        return tokenizer.batch_decode([[i] for i in range(size)]), None
    spots = list(range(0, size, max(1, size // _SPOT_CHECKS)))
    strings = stored_vocabulary_strings(key)
    if strings is not None:
        if len(strings) == size and [strings[i] for i in spots] == tokenizer.batch_decode(
                [[i] for i in spots]):
            return strings, key
        drop_cache_entry(_vocab_path(key), f"{len(strings)} strings where the tokenizer has "
                         f"{size}, or they differ from its decoding")
    strings = tokenizer.batch_decode([[i] for i in range(size)])
    store_vocabulary_strings(key, strings)
    return strings, key


def store_vocabulary_strings(key: str, strings: list[str]) -> None:
    """Store a vocabulary's strings under its key (if not there already)."""
    path = _vocab_path(key)
    if path.exists() and stored_vocabulary_strings(key) is not None:
        return
    # ensure_ascii keeps undecodable pieces (lone surrogates) round-trippable.
    entry = {"format": _FORMAT, "size": len(strings), "checksum": _strings_checksum(strings),
             "strings": strings}
    write_cache_entry(path, json.dumps(entry))


def stored_vocabulary_strings(key: str) -> list[str] | None:
    """The strings stored under a vocabulary key by an earlier run, or None (a corrupt entry is
    dropped with a warning; one of an older format is silently replaced later)."""
    path = _vocab_path(key)
    entry = read_json_entry(path)
    if entry is None:
        return None
    if isinstance(entry, list) or (isinstance(entry, dict) and entry.get("format") != _FORMAT):
        return None  # an older format, not corrupt
    problem = _vocabulary_problem(entry)
    if problem is not None:
        drop_cache_entry(path, problem)
        return None
    return entry["strings"]


def _vocabulary_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "not a mapping"
    strings = entry.get("strings")
    if not isinstance(strings, list) or not all(isinstance(s, str) for s in strings):
        return "`strings` is not a list of strings"
    if entry.get("size") != len(strings):
        return f"{len(strings)} strings, {entry.get('size')!r} recorded"
    if entry.get("checksum") != _strings_checksum(strings):
        return "checksum mismatch"
    return None


def _vocab_path(key: str) -> Path:
    return _folder() / f"vocab-{key}.json"


def _strings_checksum(strings: list[str]) -> str:
    return hashlib.sha256(json.dumps(strings).encode()).hexdigest()[:16]


def _vocab_key(tokenizer: Any, size: int) -> str:
    table = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    digest = hashlib.sha256(json.dumps(table).encode())
    digest.update(json.dumps([_VOCAB_KEY_VERSION, tokenizer_identity(tokenizer), size,
                              getattr(tokenizer, "clean_up_tokenization_spaces", None)]).encode())
    return digest.hexdigest()[:16]


def load_sample(fingerprint: str) -> tuple[TokenBatch, list[int]] | None:
    """The token batch and document indices stored for a corpus sample fingerprint, or None.
    A corrupt entry is dropped with a warning (and rebuilt by the caller)."""
    path = _folder() / f"sample-{fingerprint}.pt"
    entry = read_torch_entry(path)
    if entry is None:
        return None
    if isinstance(entry, dict) and entry.get("format") != _FORMAT:
        return None  # an older format: rebuilt and overwritten, not corrupt
    problem = _sample_problem(entry, fingerprint)
    if problem is not None:
        drop_cache_entry(path, problem)
        return None
    return TokenBatch(entry["tokens"], entry["mask"], entry["has_bos"]), entry["documents"].tolist()


def _sample_problem(entry: Any, fingerprint: str) -> str | None:
    """What is wrong with a stored sample (its typed record: long tokens and documents, a bool
    mask of the same shape, one document per row, a matching checksum), or None."""
    if not isinstance(entry, dict):
        return "not a mapping"
    tokens, mask, documents = entry.get("tokens"), entry.get("mask"), entry.get("documents")
    if not all(isinstance(t, torch.Tensor) for t in (tokens, mask, documents)):
        return "tokens, mask or documents missing"
    if entry.get("fingerprint") != fingerprint:
        return f"stored under fingerprint {entry.get('fingerprint')!r}"
    if not isinstance(entry.get("has_bos"), bool):
        return "has_bos is not a bool"
    if tokens.dtype != torch.long or mask.dtype != torch.bool or documents.dtype != torch.long:
        return f"dtypes {tokens.dtype}/{mask.dtype}/{documents.dtype}, not long/bool/long"
    if tokens.dim() != 2 or tokens.shape != mask.shape or tuple(documents.shape) != (tokens.shape[0],):
        return (f"shapes tokens {tuple(tokens.shape)}, mask {tuple(mask.shape)}, documents "
                f"{tuple(documents.shape)} do not match")
    if entry.get("checksum") != _tensors_checksum(tokens, mask, documents):
        return "checksum mismatch"
    return None


def store_sample(fingerprint: str, batch: TokenBatch, documents: list[int]) -> None:
    """Store a tokenized sample under its fingerprint."""
    docs = torch.tensor(documents, dtype=torch.long)
    tokens, mask = batch.tokens.contiguous(), batch.mask.contiguous()
    entry = {"format": _FORMAT, "fingerprint": fingerprint, "tokens": tokens, "mask": mask,
             "has_bos": bool(batch.has_bos), "documents": docs,
             "checksum": _tensors_checksum(tokens, mask, docs)}
    write_cache_entry(_folder() / f"sample-{fingerprint}.pt", lambda f: torch.save(entry, f))


def _tensors_checksum(*tensors: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
