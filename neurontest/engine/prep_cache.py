"""On-disk caches of the preparation every run repeats: vocabulary strings and tokenized samples.

A warm pytest run would otherwise decode all 49k token ids (about 1 s) and re-tokenize the corpus
(about 2 s) before reading a single cached activation. Entries live under
`cache_root()/prep`, are written atomically (temp file + rename, safe under pytest-xdist), and
anything unreadable or inconsistent is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from neurontest.engine.paths import cache_root
from neurontest.engine.tokens import tokenizer_identity

if TYPE_CHECKING:
    from neurontest.engine.tokens import TokenBatch

_FORMAT = 1
_SPOT_CHECKS = 64  # ids re-decoded on every load, so a changed decoder is caught


def _folder() -> Path:
    return cache_root() / "prep"


def write_atomic(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, mode) as handle:
                write(handle)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass  # an unwritable cache only costs recomputing next time


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
    if (strings is not None and len(strings) == size
            and [strings[i] for i in spots] == tokenizer.batch_decode([[i] for i in spots])):
        return strings, key
    strings = tokenizer.batch_decode([[i] for i in range(size)])
    store_vocabulary_strings(key, strings)
    return strings, key


def store_vocabulary_strings(key: str, strings: list[str]) -> None:
    """Store a vocabulary's strings under its key (if not there already)."""
    path = _folder() / f"vocab-{key}.json"
    if not path.exists():
        # ensure_ascii keeps undecodable pieces (lone surrogates) round-trippable.
        write_atomic(path, lambda f: f.write(json.dumps(strings)), mode="w")


def stored_vocabulary_strings(key: str) -> list[str] | None:
    """The strings stored under a vocabulary key by an earlier run, or None."""
    try:
        strings = json.loads((_folder() / f"vocab-{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(strings, list) or not all(isinstance(s, str) for s in strings):
        return None
    return strings


def _vocab_key(tokenizer: Any, size: int) -> str:
    table = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    digest = hashlib.sha256(json.dumps(table).encode())
    digest.update(json.dumps([_FORMAT, tokenizer_identity(tokenizer), size,
                              getattr(tokenizer, "clean_up_tokenization_spaces", None)]).encode())
    return digest.hexdigest()[:16]


def load_sample(fingerprint: str) -> tuple[TokenBatch, list[int]] | None:
    """The token batch and document indices stored for a corpus sample fingerprint, or None."""
    import torch

    from neurontest.engine.tokens import TokenBatch

    path = _folder() / f"sample-{fingerprint}.pt"
    if not path.exists():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
        tokens, mask, documents = entry["tokens"], entry["mask"], entry["documents"]
        ok = (entry.get("format") == _FORMAT and entry.get("fingerprint") == fingerprint
              and tokens.shape == mask.shape and len(documents) == tokens.shape[0])
    except Exception:  # noqa: BLE001 - any unreadable entry is rebuilt
        ok = False
    if not ok:
        path.unlink(missing_ok=True)
        return None
    return TokenBatch(tokens, mask, bool(entry["has_bos"])), documents.tolist()


def store_sample(fingerprint: str, batch: TokenBatch, documents: list[int]) -> None:
    """Store a tokenized sample under its fingerprint."""
    import torch

    entry = {"format": _FORMAT, "fingerprint": fingerprint, "tokens": batch.tokens,
             "mask": batch.mask, "has_bos": batch.has_bos,
             "documents": torch.tensor(documents, dtype=torch.long)}
    write_atomic(_folder() / f"sample-{fingerprint}.pt", lambda f: torch.save(entry, f))
