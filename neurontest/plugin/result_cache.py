"""What earlier runs established, remembered on disk so a warm run repeats no model work.

Small JSON files under `cache_root()/results`, written atomically (safe under pytest-xdist):

* `lab-<stamp>.json`: the model and corpus a lab resolved to (fingerprints, dimensions), under
  the stamp of their files and of neurontest's code (neurontest.engine.provenance). With it a run knows
  the fingerprints without loading the model.
* `checked-<key>`: a hypothesis file passed its collection checks against these models.
* `claim-<key>.json`: a claim's result, under the code version, the model and corpus
  fingerprints, the device, the claim's kind, subject and options, and its Hypothesis settings.

A change to any of those computes afresh. Every entry is checked on read against its record
(`lab-` against the identity fields, `claim-` against the result's fields and types, so a string
where a number belongs never reaches the report): a bad one is dropped with a warning and
recomputed, never trusted. An unwritable cache folder costs one warning and the run goes on.
Claims whose outcome is random (perturbation claims without `seed:` under the default Hypothesis
profile) are never remembered. `--neurontest-no-cache` neither reads nor writes any of this.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurontest.claims.base import result_from_dict, result_to_dict
from neurontest.engine.provenance import code_version, corpus_stamp, hash_json, model_stamp
from neurontest.engine.store.files import drop_cache_entry, read_json_entry, sweep_once, write_cache_entry
from neurontest.engine.store.paths import cache_root

if TYPE_CHECKING:
    from neurontest.claims.base import Claim, ClaimResult
    from neurontest.claims.settings import RunSettings
    from neurontest.lab import CorpusOptions

_FORMAT = 1


class ResultCache:
    """Lab identities, checked files and claim results of earlier runs."""

    def __init__(self, root: Path | None = None) -> None:
        self.folder = (root or cache_root()) / "results"
        self.hits = 0  # claim results served from here this session
        sweep_once(self.folder)  # temp files of writers killed mid-write

    # -- labs ----------------------------------------------------------------------------------
    def lab_identity(self, stamp: str) -> dict[str, Any] | None:
        """`Lab.describe()` as recorded for this stamp, if complete (model and corpus known)."""
        name = f"lab-{stamp}.json"
        identity = self._read(name)
        if identity is None:
            return None
        problem = _mismatch(identity, _IDENTITY, "identity")
        if problem is not None:
            drop_cache_entry(self.folder / name, problem)
            return None
        return identity

    def store_lab_identity(self, stamp: str, identity: dict[str, Any]) -> None:
        self._write(f"lab-{stamp}.json", identity)

    # -- hypothesis files ----------------------------------------------------------------------
    def was_checked(self, key: str) -> bool:
        name = f"checked-{key}"
        if not (self.folder / name).exists():
            return False
        if self._read(name) is True:
            return True
        drop_cache_entry(self.folder / name, "not a check mark")
        return False

    def mark_checked(self, key: str) -> None:
        self._write(f"checked-{key}", True)

    # -- claims --------------------------------------------------------------------------------
    def key_for(self, claim: Claim, identity: dict[str, Any], device: str,
                settings: RunSettings) -> str | None:
        """The key a claim's result is remembered under (None: never remembered); the claim
        runner asks for it, so the claims layer needs no import of this module."""
        return claim_key(claim, identity, device, settings)

    def result(self, key: str) -> ClaimResult | None:
        name = f"claim-{key}.json"
        data = self._read(name)
        if data is None:
            return None
        problem = _mismatch(data, _RESULT, "result")
        if problem is None:
            try:
                result = result_from_dict(data)
            except (KeyError, TypeError, ValueError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        if problem is not None:
            drop_cache_entry(self.folder / name, problem)
            return None
        result.cached = True
        self.hits += 1
        return result

    def store_result(self, key: str, result: ClaimResult) -> None:
        self._write(f"claim-{key}.json", result_to_dict(result) | {"cached": False})

    # -- files ---------------------------------------------------------------------------------
    def _read(self, name: str) -> Any:
        """The value stored under `name`, or None if absent or not a well-formed entry (which is
        dropped with a warning)."""
        path = self.folder / name
        entry = read_json_entry(path)
        if entry is None:
            return None
        if not isinstance(entry, dict) or entry.get("format") != _FORMAT or "value" not in entry:
            drop_cache_entry(path, "not a {format: %d, value: ...} entry" % _FORMAT)
            return None
        return entry["value"]

    def _write(self, name: str, value: Any) -> None:
        write_cache_entry(self.folder / name, json.dumps({"format": _FORMAT, "value": value}))


# -- the records entries are checked against ----------------------------------------------------
# A spec is a type name ("str", "int", "number", "bool", "any"), ("optional", spec), ("enum",
# *values), [spec] (a list of those), ("pair", a, b) (a two-item list), or {field: spec} (a
# mapping with those fields; a "?" after a name makes the field optional; other fields are
# allowed, so entries written by newer code with more fields still read).
_BOUND = {"op": ("enum", ">=", "<=", ">", "<", "=="), "value": "number"}
_MEASUREMENT = {"name": "str", "value": "number", "bound": ("optional", _BOUND),
                "interval?": ("optional", ("pair", "number", "number")), "level?": "number",
                "confident?": "bool", "detail?": "str"}
_TOKEN_ROW = {"str_tokens": ["str"], "values": ["number"], "marked": ["int"], "label": "str",
              "pieces?": ["str"]}
_EVIDENCE = {"title": "str", "rows": [_TOKEN_ROW], "table": [("pair", "str", "number")],
             "value_label": "str"}
# "neuron" is any unit's to_dict(): {layer, index} for a neuron, {kind: head|latent|direction, ...}.
_RESULT = {"kind": "str", "neuron": {"kind?": "str", "layer?": "int", "index?": "int"}, "measurements": [_MEASUREMENT],
           "summary": "str", "evidence": [_EVIDENCE], "extra_failures": ["str"], "cached?": "bool",
           "inconclusive?": "str"}
# The fingerprints and dimensions a deferred lab trusts; the rest is what reports show.
_IDENTITY = {
    "model": {"fingerprint": "str", "n_layers": "int", "d_mlp": "int", "name?": "str",
              "revision?": ("optional", "str"), "dtype?": "str"},
    "corpus": {"fingerprint": "str", "name?": "str", "window?": "int",
               "n_tokens?": ("optional", "int"), "seed?": "int", "split?": "str",
               "rows?": ("optional", "int"),
               "scorable_tokens?": ("optional", "int")},
    "vocab?": "str",
}


def _mismatch(value: Any, spec: Any, where: str) -> str | None:
    """Where `value` departs from `spec` (a one-line reason), or None if it matches."""
    if isinstance(spec, str):
        ok = {"str": isinstance(value, str), "bool": isinstance(value, bool), "any": True,
              "int": isinstance(value, int) and not isinstance(value, bool),
              "number": isinstance(value, (int, float)) and not isinstance(value, bool)}[spec]
        return None if ok else f"{where} is {_show(value)}, not a{'n' if spec == 'int' else ''} {spec}"
    if isinstance(spec, list):
        if not isinstance(value, list):
            return f"{where} is {_show(value)}, not a list"
        return next((p for i, item in enumerate(value)
                     if (p := _mismatch(item, spec[0], f"{where}[{i}]")) is not None), None)
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return f"{where} is {_show(value)}, not a mapping"
        for field, inner in spec.items():
            name = field.rstrip("?")
            if name not in value:
                if field.endswith("?"):
                    continue
                return f"{where} has no {name!r}"
            if (problem := _mismatch(value[name], inner, f"{where}.{name}")) is not None:
                return problem
        return None
    head, *rest = spec
    if head == "optional":
        return None if value is None else _mismatch(value, rest[0], where)
    if head == "enum":
        return None if value in rest else f"{where} is {_show(value)}, not one of {', '.join(rest)}"
    if not isinstance(value, list) or len(value) != 2:  # "pair"
        return f"{where} is {_show(value)}, not a pair"
    return _mismatch(value[0], rest[0], f"{where}[0]") or _mismatch(value[1], rest[1], f"{where}[1]")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def lab_stamp(model: str | None, revision: str | None, corpus: CorpusOptions,
              device: str) -> str | None:
    """The stamp a lab's identity is remembered under; None when its model or corpus cannot be
    stamped without loading it (hub names): such labs always load."""
    model_part, corpus_part = model_stamp(model, revision), corpus_stamp(corpus.spec)
    if model_part is None or corpus_part is None:
        return None
    # A split other than `all` is its own lab (`all` keeps the stamps runs recorded before).
    split = [corpus.split] if corpus.split != "all" else []
    return hash_json([_FORMAT, code_version(), model_part, revision, corpus_part, corpus.spec,
                      corpus.window, corpus.n_tokens, corpus.seed, device, *split])


def claim_key(claim: Claim, identity: dict[str, Any], device: str,
              settings: RunSettings) -> str | None:
    """The key of a claim's result on a lab of this identity under these run settings; None if
    its outcome is random."""
    if not claim.deterministic(settings):
        return None
    return hash_json([_FORMAT, code_version(), identity["model"]["fingerprint"],
                      identity["corpus"]["fingerprint"], device, claim.kind,
                      f"{type(claim).__module__}.{type(claim).__qualname__}", repr(claim.subject),
                      claim.config, claim.run_settings(settings)])


def checked_key(file_bytes: bytes, fingerprints: list[Any]) -> str:
    """The key under which a hypothesis file's collection checks are remembered."""
    return hash_json([_FORMAT, code_version(), hashlib.sha256(file_bytes).hexdigest(), fingerprints])
