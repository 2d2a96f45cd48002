"""The YAML hypothesis file format: parsing, validation, and the claims it declares.

    model: smollm2-135m            # optional (default: the embedded model, or --neurontest-model)
    corpus: wiki-sample            # optional (default: the embedded Wikipedia sample)
    neurons:
      - id: L1N298                 # or `layer: 1` and `neuron: 298`
        description: fires on month names
        fires_on: {tokens: [January, February, March]}
        threshold: 1.0             # absolute, or {relative: 0.25} of the corpus max (default)
        claims:
          - kind: activation
            f1: ">= 0.7"

Every error names the file and line and says how to fix it (unknown keys get "did you mean").
docs/hypothesis-format.md documents every field; `neurontest schema` prints the JSON Schema.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurontest.errors import HypothesisFileError, NeurontestError
from neurontest.format import safe_yaml
from neurontest.format.units import UNIT_KEYS, unit_from_entry

if TYPE_CHECKING:
    from neurontest.claims.base import Claim, Subject

FILE_KEYS = {
    "model": "model name or path (default: the embedded smollm2-135m)",
    "models": "several models/checkpoints, each claim tested on each (instead of `model:`)",
    "revision": "hub revision/checkpoint of the model",
    "corpus": "corpus spec (default: wiki-sample)",
    "corpus_tokens": "tokens sampled from the corpus (default 100000; null = all)",
    "window": "tokens per corpus window (default 64)",
    "seed": "corpus sampling seed (default 0)",
    "description": "free text",
    "neurons": "list of neurons and their claims",
}
NEURON_KEYS = {
    **UNIT_KEYS,  # how the entry names its unit: neuron, head, SAE latent or direction
    "description": "what the neuron is claimed to do", "fires_on": "predicate over tokens",
    "threshold": "firing threshold", "claims": "list of claims",
}


# LineDict lives with the loader that makes it; re-exported here for callers of the format.
LineDict = safe_yaml.LineDict

# Caps on the file-level numbers: larger values are typos that would run for hours or allocate
# far more memory than any machine has.
MAX_WINDOW = 8192
MAX_CORPUS_TOKENS = 1_000_000_000


@dataclass
class ClaimEntry:
    """One claim as written: its kind, options, file line, and an optional strict xfail."""

    kind: str
    config: dict[str, Any]
    line: int
    name: str
    xfail: str | None = None


@dataclass
class NeuronEntry:
    neuron: Any  # the unit: NeuronRef, HeadRef, SaeLatent or DirectionUnit (engine.units)
    line: int
    description: str
    fires_on: dict[str, Any] | None
    threshold: Any
    claims: list[ClaimEntry] = field(default_factory=list)
    base_dir: Path | None = None  # the file's folder: where `python:` predicates are looked up

    def subject(self) -> Subject:
        from neurontest.claims.base import Subject, Threshold
        from neurontest.claims.predicates import predicate_from_dict

        predicate = None if self.fires_on is None else predicate_from_dict(
            self.fires_on, base_dir=self.base_dir)
        return Subject(self.neuron, predicate, Threshold.parse(self.threshold), self.description)

    def build(self, claim: ClaimEntry) -> Claim:
        """The runnable claim object for one of this neuron's claims."""
        from neurontest.format.kinds import get_claim_class

        return get_claim_class(claim.kind)(self.subject(), claim.config)


@dataclass
class HypothesisFile:
    path: Path
    model: str | None
    revision: str | None
    corpus: str | None
    corpus_tokens: int | None
    window: int
    seed: int
    neurons: list[NeuronEntry]
    models: list[str] = field(default_factory=list)  # `models:`; empty when the file names one


def load_hypothesis_file(path: Path | str) -> HypothesisFile:
    """Parse and validate a YAML hypothesis file (HypothesisFileError on any problem)."""
    path = Path(path)
    try:
        data = safe_yaml.load(path.read_bytes())
    except safe_yaml.YamlInputError as exc:
        raise HypothesisFileError(exc.message, path=str(path), line=exc.line) from None
    except OSError as exc:
        raise HypothesisFileError(f"cannot read: {exc.strerror}", path=str(path)) from None
    return parse_hypotheses(data, path)


def parse_hypotheses(data: Any, path: Path) -> HypothesisFile:
    from neurontest.claims.base import Threshold, claim_phrase
    from neurontest.claims.predicates import predicate_from_dict
    from neurontest.format.kinds import get_claim_class

    def fail(message: str, line: int | None) -> HypothesisFileError:
        return HypothesisFileError(message, path=str(path), line=line)

    if not isinstance(data, dict):
        raise fail("a hypothesis file is a mapping with a `neurons:` list", 1)
    _check_keys(data, FILE_KEYS, "the file", fail)
    neurons_data = data.get("neurons")
    if not isinstance(neurons_data, list) or not neurons_data:
        raise fail("`neurons:` must be a non-empty list of neurons", _line(data, "neurons"))
    entries = []
    neuron_lines: dict[str, int] = {}
    for item in neurons_data:
        if not isinstance(item, dict):
            raise fail("each entry of `neurons:` is a mapping with `id:` and `claims:`", _line(data, "neurons"))
        _check_keys(item, NEURON_KEYS, "a neuron", fail)
        ref = _neuron_ref(item, fail, path.parent)
        fires_on = item.get("fires_on")
        try:
            if fires_on is not None:
                predicate_from_dict(fires_on, base_dir=path.parent)
            Threshold.parse(item.get("threshold"))
        except ValueError as exc:
            key = "fires_on" if "threshold" not in str(exc) else "threshold"
            raise fail(f"{ref.short_id}: {exc}", _line(item, key)) from None
        claims_data = item.get("claims")
        if not isinstance(claims_data, list) or not claims_data:
            raise fail(f"{ref.short_id}: `claims:` must be a non-empty list", _line(item, "claims", item))
        entry = NeuronEntry(ref, getattr(item, "line", 0), str(item.get("description", "")), fires_on,
                            item.get("threshold"), base_dir=path.parent)
        seen: dict[str, int] = {}
        names: dict[str, int | None] = {}
        for claim in claims_data:
            line = getattr(claim, "line", _line(item, "claims"))
            if not isinstance(claim, dict) or "kind" not in claim:
                raise fail(f"{ref.short_id}: each claim is a mapping with `kind:`", line)
            try:
                cls = get_claim_class(str(claim["kind"]))
                cls.validate_options(claim)
                if cls.needs_predicate and fires_on is None and "fires_on" not in claim:
                    raise ValueError(f"{claim_phrase(cls.kind)} needs the neuron's `fires_on:` predicate")
            except ValueError as exc:
                raise fail(f"{ref.short_id}: {exc}", line) from None
            except (TypeError, AttributeError, KeyError) as exc:
                # A kind's own checks met a value of a type they do not expect: still the
                # user's input at fault, so one line naming the claim, not a traceback.
                raise fail(f"{ref.short_id}: a {claim.get('kind')!r} claim has an option of the "
                           f"wrong type ({type(exc).__name__}: {_short(str(exc))}); see "
                           "docs/hypothesis-format.md for each option's form", line) from None
            if "id" in claim and not isinstance(claim["id"], str):
                raise fail(f"{ref.short_id}: claim `id:` is a string, got "
                           f"{type(claim['id']).__name__} {_short(claim['id'])}; quote it",
                           _line(claim, "id"))
            base = str(claim.get("id", claim["kind"]))
            seen[base] = seen.get(base, 0) + 1
            name = base if seen[base] == 1 else f"{base}-{seen[base]}"
            if name in names:
                raise fail(f"{ref.short_id}: claim name {name!r} is already taken by the claim on "
                           f"line {names[name]} (automatic names are kind, kind-2, ...); give a "
                           "different `id:`", line)
            names[name] = line
            options = {k: v for k, v in claim.items() if k not in ("kind", "id", "xfail")}
            xfail = claim.get("xfail")
            entry.claims.append(ClaimEntry(cls.kind, options, line, name,
                                           None if xfail is None else str(xfail)))
        if ref.short_id in neuron_lines:
            raise fail(f"{ref.short_id} appears twice (first on line {neuron_lines[ref.short_id]}); "
                       "put all its claims under one entry", entry.line)
        neuron_lines[ref.short_id] = entry.line
        entries.append(entry)
    tokens = data.get("corpus_tokens", 100_000)
    models = data.get("models")
    if models is not None:
        if "model" in data:
            raise fail("give either `model:` or `models:` (a list), not both", _line(data, "models"))
        if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
            raise fail("`models:` is a non-empty list of model names or folders", _line(data, "models"))
    for key in ("model", "revision", "corpus", "description"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise fail(f"`{key}:` is a string, got {type(data[key]).__name__} {_short(data[key])}; "
                       "quote it or give one name", _line(data, key))
    window = _int_option(data, "window", 64, 1, MAX_WINDOW, fail)
    seed = _int_option(data, "seed", 0, 0, 2**32 - 1, fail)
    tokens = None if tokens is None else _int_option(data, "corpus_tokens", 100_000, 1,
                                                      MAX_CORPUS_TOKENS, fail)
    return HypothesisFile(models=list(models or []),
        path=path, model=_opt_str(data.get("model")), revision=_opt_str(data.get("revision")),
        corpus=_opt_str(data.get("corpus")), corpus_tokens=tokens,
        window=window, seed=seed, neurons=entries,
    )


def _int_option(data: dict, key: str, default: int, low: int, high: int, fail: Any) -> int:
    """A whole number in [low, high]: no bools, no floats (1.5 or .inf), no strings."""
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(f"`{key}:` is a whole number, got {type(value).__name__} {_short(value)}; "
                   f"give e.g. `{key}: {default}`", _line(data, key))
    if not low <= value <= high:
        raise fail(f"`{key}: {value}` is out of range; give {low}..{high}", _line(data, key))
    return value


def _short(value: Any) -> str:
    """A value for a one-line message: repr cut at 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _neuron_ref(item: dict, fail: Any, base_dir: Path | None = None) -> Any:
    """The entry's unit (neurontest.format.units), or a HypothesisFileError at its line."""
    try:
        return unit_from_entry(item, base_dir)
    except (TypeError, ValueError, NeurontestError) as exc:  # e.g. an SAE hub repo, offline
        raise fail(str(exc), getattr(item, "line", None)) from None


def _check_keys(data: dict, allowed: dict[str, str], what: str, fail: Any) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
            raise fail(f"unknown key {key!r} in {what}; {hint}", _line(data, key))


def _line(data: Any, key: str, default: Any = None) -> int | None:
    lines = getattr(data, "key_lines", {})
    if key in lines:
        return lines[key]
    return getattr(default if default is not None else data, "line", None)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
