"""What earlier runs established, remembered on disk so a warm run repeats no model work.

Small JSON files under `cache_root()/results`, written atomically (safe under pytest-xdist):

* `lab-<stamp>.json`: the model and corpus a lab resolved to (fingerprints, dimensions), under
  the stamp of their files and of neurontest's code (neurontest.engine.provenance). With it a run knows
  the fingerprints without loading the model.
* `checked-<key>`: a hypothesis file passed its collection checks against these models.
* `claim-<key>.json`: a claim's result, under the code version, the model and corpus
  fingerprints, the device, the claim's kind, subject and options, and its Hypothesis settings.

A change to any of those computes afresh, and an unreadable entry is recomputed, never trusted.
Claims whose outcome is random (perturbation claims without `seed:` under the default Hypothesis
profile) are never remembered. `--neurontest-no-cache` neither reads nor writes any of this.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurontest.engine.paths import cache_root
from neurontest.engine.prep_cache import write_atomic
from neurontest.engine.provenance import code_version, corpus_stamp, hash_json, model_stamp

if TYPE_CHECKING:
    from neurontest.claims.base import Claim, ClaimResult
    from neurontest.lab import CorpusOptions

_FORMAT = 1


class ResultCache:
    """Lab identities, checked files and claim results of earlier runs."""

    def __init__(self, root: Path | None = None) -> None:
        self.folder = (root or cache_root()) / "results"
        self.hits = 0  # claim results served from here this session

    # -- labs ----------------------------------------------------------------------------------
    def lab_identity(self, stamp: str) -> dict[str, Any] | None:
        """`Lab.describe()` as recorded for this stamp, if complete (model and corpus known)."""
        identity = self._read(f"lab-{stamp}.json")
        if not isinstance(identity, dict):
            return None
        model, corpus = identity.get("model") or {}, identity.get("corpus") or {}
        if not (model.get("fingerprint") and model.get("n_layers") and corpus.get("fingerprint")):
            return None
        return identity

    def store_lab_identity(self, stamp: str, identity: dict[str, Any]) -> None:
        self._write(f"lab-{stamp}.json", identity)

    # -- hypothesis files ----------------------------------------------------------------------
    def was_checked(self, key: str) -> bool:
        return (self.folder / f"checked-{key}").exists()

    def mark_checked(self, key: str) -> None:
        self._write(f"checked-{key}", True)

    # -- claims --------------------------------------------------------------------------------
    def key_for(self, claim: Claim, identity: dict[str, Any], device: str) -> str | None:
        """The key a claim's result is remembered under (None: never remembered); the lab asks
        for it, so the lab needs no import of this module."""
        return claim_key(claim, identity, device)

    def result(self, key: str) -> ClaimResult | None:
        from neurontest.claims.base import result_from_dict

        data = self._read(f"claim-{key}.json")
        if not isinstance(data, dict):
            return None
        try:
            result = result_from_dict(data)
        except (KeyError, TypeError, ValueError):
            return None
        result.cached = True
        self.hits += 1
        return result

    def store_result(self, key: str, result: ClaimResult) -> None:
        from neurontest.claims.base import result_to_dict

        self._write(f"claim-{key}.json", result_to_dict(result) | {"cached": False})

    # -- files ---------------------------------------------------------------------------------
    def _read(self, name: str) -> Any:
        try:
            entry = json.loads((self.folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("format") != _FORMAT:
            return None
        return entry.get("value")

    def _write(self, name: str, value: Any) -> None:
        text = json.dumps({"format": _FORMAT, "value": value})
        write_atomic(self.folder / name, lambda f: f.write(text), mode="w")


def lab_stamp(model: str | None, revision: str | None, corpus: CorpusOptions,
              device: str) -> str | None:
    """The stamp a lab's identity is remembered under; None when its model or corpus cannot be
    stamped without loading it (hub names): such labs always load."""
    model_part, corpus_part = model_stamp(model, revision), corpus_stamp(corpus.spec)
    if model_part is None or corpus_part is None:
        return None
    return hash_json([_FORMAT, code_version(), model_part, revision, corpus_part, corpus.spec,
                      corpus.window, corpus.n_tokens, corpus.seed, device])


def claim_key(claim: Claim, identity: dict[str, Any], device: str) -> str | None:
    """The key of a claim's result on a lab of this identity; None if its outcome is random."""
    if not claim.deterministic:
        return None
    return hash_json([_FORMAT, code_version(), identity["model"]["fingerprint"],
                      identity["corpus"]["fingerprint"], device, claim.kind,
                      f"{type(claim).__module__}.{type(claim).__qualname__}", repr(claim.subject),
                      claim.config, claim.run_settings()])


def checked_key(file_bytes: bytes, fingerprints: list[Any]) -> str:
    """The key under which a hypothesis file's collection checks are remembered."""
    return hash_json([_FORMAT, code_version(), hashlib.sha256(file_bytes).hexdigest(), fingerprints])
