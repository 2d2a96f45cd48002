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

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurontest.claims.base import Subject, Threshold, claim_phrase
from neurontest.claims.options import ClaimOptions
from neurontest.claims.predicates import predicate_from_dict
from neurontest.errors import HypothesisFileError, NeurontestError
from neurontest.format import safe_yaml
from neurontest.format.kinds import get_claim_class
from neurontest.format.model import line_of, validate_document
from neurontest.claims.unit_entries import unit_from_entry

if TYPE_CHECKING:
    from neurontest.claims.base import Claim


@dataclass
class ClaimEntry:
    """One claim as written: its kind, options, file line, and an optional strict xfail."""

    kind: str
    config: dict[str, Any]
    line: int
    name: str
    xfail: str | None = None
    #: the typed options, validated once when the file was parsed (beside the file, so a
    #: `python:` predicate next to it resolves)
    options: ClaimOptions | None = field(default=None, repr=False, compare=False)


@dataclass
class NeuronEntry:
    neuron: Any  # the unit: NeuronRef, HeadRef, SaeLatent or DirectionUnit (engine.units)
    line: int
    description: str
    fires_on: dict[str, Any] | None
    threshold: Any
    claims: list[ClaimEntry] = field(default_factory=list)
    base_dir: Path | None = None  # the file's folder: where `python:` predicates are looked up
    _subject: Subject | None = field(default=None, repr=False, compare=False)

    def subject(self) -> Subject:
        """The unit with its predicate and threshold, parsed once for all its claims."""
        if self._subject is None:
            predicate = None if self.fires_on is None else predicate_from_dict(
                self.fires_on, base_dir=self.base_dir)
            self._subject = Subject(self.neuron, predicate, Threshold.parse(self.threshold),
                                    self.description, base_dir=self.base_dir)
        return self._subject

    def build(self, claim: ClaimEntry) -> Claim:
        """The runnable claim object for one of this neuron's claims."""
        return get_claim_class(claim.kind)(self.subject(), claim.config, claim.options)


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
    split: str = "all"  # `split:`: which half of the corpus documents (neurontest.engine.data.corpus)


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
    def fail(message: str, line: int | None) -> HypothesisFileError:
        return HypothesisFileError(message, path=str(path), line=line)

    if not isinstance(data, dict):
        raise fail("a hypothesis file is a mapping with a `neurons:` list", 1)
    data = _units_as_neurons(data, fail)
    # Types, ranges and keys of the file and its entries: the typed model (format/model.py).
    document, problem, where = validate_document(data, base_dir=path.parent)
    if document is None:
        raise fail(problem, line_of(data, where))
    if document.model is not None and document.models is not None:
        raise fail("give either `model:` or `models:` (a list), not both", _line(data, "models"))
    _check_spans(data, document.window, fail)
    entries = []
    neuron_lines: dict[str, int] = {}
    for item in data["neurons"]:
        ref = _neuron_ref(item, fail, path.parent)
        entry = NeuronEntry(ref, getattr(item, "line", 0), str(item.get("description", "")),
                            item.get("fires_on"), item.get("threshold"), base_dir=path.parent)
        seen: dict[str, int] = {}
        names: dict[str, int | None] = {}
        for claim in item["claims"]:
            line = getattr(claim, "line", _line(item, "claims"))
            if "kind" not in claim:
                raise fail(f"{ref.short_id}: each claim is a mapping with `kind:`", line)
            try:
                cls = get_claim_class(str(claim["kind"]))
                typed = cls.validate_options(claim, base_dir=path.parent)
                if cls.needs_predicate and item.get("fires_on") is None and "fires_on" not in claim:
                    raise ValueError(f"{claim_phrase(cls.kind)} needs the neuron's `fires_on:` predicate")
            except ValueError as exc:
                raise fail(f"{ref.short_id}: {exc}", _option_line(claim, str(exc), line)) from None
            base = str(claim.get("id", claim["kind"]))
            seen[base] = seen.get(base, 0) + 1
            name = base if seen[base] == 1 else f"{base}-{seen[base]}"
            if name in names:
                raise fail(f"{ref.short_id}: claim name {name!r} is already taken by the claim on "
                           f"line {names[name]} (automatic names are kind, kind-2, ...); give a "
                           "different `id:`", line)
            names[name] = line
            options = {k: v for k, v in claim.items() if k not in ("kind", "id", "xfail")}
            entry.claims.append(ClaimEntry(cls.kind, options, line, name, claim.get("xfail"), typed))
        if ref.short_id in neuron_lines:
            raise fail(f"{ref.short_id} appears twice (first on line {neuron_lines[ref.short_id]}); "
                       "put all its claims under one entry", entry.line)
        neuron_lines[ref.short_id] = entry.line
        entries.append(entry)
    return HypothesisFile(
        path=path, model=document.model, revision=document.revision, corpus=document.corpus,
        corpus_tokens=document.corpus_tokens, window=document.window, seed=document.seed,
        neurons=entries, models=list(document.models or []), split=document.split,
    )


def _units_as_neurons(data: Any, fail: Any) -> Any:
    """`units:` is another name for `neurons:` (its entries may be any unit); the rest of the
    format reads `neurons:`."""
    if "units" not in data:
        return data
    if "neurons" in data:
        raise fail("give the units under `units:` or `neurons:`, not both", _line(data, "units"))
    renamed = type(data)((("neurons" if k == "units" else k), v) for k, v in data.items())
    for attribute in ("line", "key_lines"):
        if hasattr(data, attribute):
            setattr(renamed, attribute, getattr(data, attribute))
    if hasattr(data, "key_lines"):
        renamed.key_lines = {("neurons" if k == "units" else k): n for k, n in data.key_lines.items()}
    return renamed


def _check_spans(data: Any, window: int, fail: Any) -> None:
    """A predicate's `within:`/`at:` span beyond the corpus window can never be seen whole."""
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("within", "at"):
                span = node.get(key)
                if isinstance(span, int) and not isinstance(span, bool) and span >= window:
                    raise fail(f"`{key}: {span}` reaches beyond the corpus window of {window} "
                               f"tokens; lower it or raise `window:`", _line(node, key))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data["neurons"])


def _option_line(claim: Any, message: str, default: int | None) -> int | None:
    """The line of the option a claim's error names (`key:` or 'key' in it), else the claim's."""
    lines = getattr(claim, "key_lines", {})
    for key in lines:
        if key != "kind" and (f"`{key}:`" in message or f"option {key!r}" in message):
            return lines[key]
    return default


def _neuron_ref(item: dict, fail: Any, base_dir: Path | None = None) -> Any:
    """The entry's unit (neurontest.claims.unit_entries), or a HypothesisFileError at its line."""
    try:
        return unit_from_entry(item, base_dir)
    except (TypeError, ValueError, NeurontestError) as exc:  # e.g. an SAE hub repo, offline
        raise fail(str(exc), getattr(item, "line", None)) from None


def _line(data: Any, key: str, default: Any = None) -> int | None:
    lines = getattr(data, "key_lines", {})
    if key in lines:
        return lines[key]
    return getattr(default if default is not None else data, "line", None)
