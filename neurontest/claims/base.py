"""What every claim kind shares: bounds, measurements, results, the subject neuron, options.

A claim kind is a `Claim` subclass registered under its YAML name (`neurontest.format.kinds`). It declares
its options once (`options`), which drives validation with "did you mean" hints and the
published JSON Schema alike.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from neurontest.engine.neuron import NeuronRef
from neurontest.engine.units import unit_from_dict

if TYPE_CHECKING:
    from neurontest.lab import Lab
    from neurontest.claims.predicates import Predicate

_BOUND = re.compile(r"^\s*(>=|<=|>|<|==)\s*(-?\d+(?:\.\d*)?(?:[eE]-?\d+)?)\s*$")


@dataclass(frozen=True)
class Bound:
    """`>= 0.7`-style bound on a measured value."""

    op: str
    value: float

    @classmethod
    def parse(cls, text: Any) -> Bound:
        if isinstance(text, Bound):
            return text
        match = _BOUND.match(str(text))
        if not match:
            raise ValueError(f"bound {text!r} is not of the form '>= 0.7' (ops: >= <= > < ==)")
        value = float(match.group(2))
        if not math.isfinite(value):
            raise ValueError(f"bound {text!r} is not a finite number; give e.g. '>= 0.7'")
        return cls(match.group(1), value)

    def holds(self, x: float) -> bool:
        return {
            ">=": x >= self.value, "<=": x <= self.value, ">": x > self.value,
            "<": x < self.value, "==": abs(x - self.value) <= 1e-9,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass
class Measurement:
    """One measured number, the bound it was held to, and whether it held.

    `interval` is its confidence interval at `level` (None where none is defined). With
    `confident` the bound must hold for the whole interval: its lower end for `>=`/`>`, its upper
    end for `<=`/`<`. `detail` says the metric in plain words with its counts."""

    name: str
    value: float
    bound: Bound | None = None
    interval: tuple[float, float] | None = None
    level: float = 0.95
    confident: bool = False
    detail: str = ""

    @property
    def checked_value(self) -> float:
        """The number the bound is held to: the value, or with `confident` the interval's end
        that the bound is most likely to fail at."""
        if not self.confident or self.interval is None or self.bound is None:
            return self.value
        if self.bound.op in (">=", ">"):
            return self.interval[0]
        if self.bound.op in ("<=", "<"):
            return self.interval[1]
        return self.value

    @property
    def passed(self) -> bool:
        return self.bound is None or self.bound.holds(self.checked_value)

    def interval_text(self) -> str:
        """`95% CI 0.1-0.117`, or "" without an interval."""
        if self.interval is None:
            return ""
        return f"{self.level:.0%} CI {self.interval[0]:.3g} to {self.interval[1]:.3g}"

    def __str__(self) -> str:
        notes = []
        if self.bound is not None:
            held = (f"the CI's {'lower' if self.bound.op in ('>=', '>') else 'upper'} end"
                    if self.confident and self.checked_value != self.value else "")
            if self.passed:
                notes.append(f"ok, {self.bound}" + (f" for {held}" if held else ""))
            else:
                notes.append(f"expected {self.bound}" + (f" for {held}" if held else ""))
        if self.interval is not None:
            notes.append(self.interval_text())
        text = f"{self.name} = {self.value:.4g}" + (f" ({'; '.join(notes)})" if notes else "")
        return f"{text}: {self.detail}" if self.detail else text


@dataclass
class TokenRow:
    """Tokens with one value each, for a heatmap; `marked` are indices to highlight.

    `str_tokens` are display strings (`engine.tokens.display_tokens`): a character split over
    byte pieces shows on its last piece, the others show "". `pieces` holds, for hover text, the
    tokenizer's own form of each such merged token ("" for the rest), or is [] when no token of
    the row was merged (and in rows stored before it existed)."""

    str_tokens: list[str]
    values: list[float]
    marked: list[int] = field(default_factory=list)
    label: str = ""
    pieces: list[str] = field(default_factory=list)


@dataclass
class Evidence:
    """A named group of heatmap rows (or a token/value table) supporting a verdict."""

    title: str
    rows: list[TokenRow] = field(default_factory=list)
    table: list[tuple[str, float]] = field(default_factory=list)
    value_label: str = "activation"


@dataclass
class ClaimResult:
    """The outcome of running one claim: measurements, a one-line summary, and evidence."""

    kind: str
    neuron: NeuronRef
    measurements: list[Measurement]
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    extra_failures: list[str] = field(default_factory=list)
    cached: bool = False  # remembered from an earlier run (neurontest.plugin.result_cache)
    #: why the evidence is too thin for any verdict ("" if it is enough); such a claim fails
    inconclusive: str = ""
    #: the firing threshold the claim was judged at (the report marks it on the colour scale)
    tau: float | None = None

    @property
    def passed(self) -> bool:
        return (not self.inconclusive and not self.extra_failures
                and all(m.passed for m in self.measurements))

    def intervals(self) -> dict[str, tuple[float, float]]:
        """Each metric's confidence interval, for those that have one."""
        return {m.name: m.interval for m in self.measurements if m.interval is not None}

    def metrics(self) -> dict[str, float]:
        return {m.name: m.value for m in self.measurements}


@dataclass(frozen=True)
class Threshold:
    """Firing threshold tau: absolute, or relative to the neuron's max over the corpus."""

    value: float
    relative: bool = False

    @classmethod
    def parse(cls, data: Any) -> Threshold:
        if data is None:
            return DEFAULT_THRESHOLD
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            if not math.isfinite(data):
                raise ValueError(f"threshold {data!r} is not a finite number; give e.g. 1.0")
            return cls(float(data))
        if isinstance(data, dict) and set(data) == {"relative"}:
            share = data["relative"]
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
                raise ValueError("threshold `relative:` is a share of the max, in (0, 1]")
            return cls(share, relative=True)
        raise ValueError("threshold is a number (absolute) or {relative: 0.25} (share of the corpus max)")

    def describe(self) -> str:
        return f"{self.value:g} x corpus max" if self.relative else f"{self.value:g}"


def result_to_dict(result: ClaimResult) -> dict[str, Any]:
    """Plain JSON-able data for a result (the result cache and pytest-xdist ship it)."""
    import dataclasses

    # Not asdict on the unit: an SAE latent would copy its weights; each unit writes its own.
    shallow = dataclasses.replace(result, neuron=None)  # type: ignore[arg-type]
    return dataclasses.asdict(shallow) | {"neuron": result.neuron.to_dict()}


def result_from_dict(data: dict[str, Any]) -> ClaimResult:
    """The inverse of `result_to_dict`, evidence included; entries written before intervals
    existed read as measurements without one."""
    return ClaimResult(
        kind=data["kind"],
        neuron=unit_from_dict(data["neuron"]),
        measurements=[_measurement_from_dict(m) for m in data["measurements"]],
        summary=data["summary"],
        evidence=[Evidence(e["title"], [TokenRow(**r) for r in e["rows"]],
                           [tuple(t) for t in e["table"]], e["value_label"])
                  for e in data["evidence"]],
        extra_failures=list(data["extra_failures"]),
        cached=bool(data.get("cached", False)),
        inconclusive=str(data.get("inconclusive", "")),
        tau=None if data.get("tau") is None else float(data["tau"]),
    )


def _measurement_from_dict(m: dict[str, Any]) -> Measurement:
    interval = m.get("interval")
    return Measurement(m["name"], m["value"], None if m["bound"] is None else Bound(**m["bound"]),
                       interval=None if interval is None else (float(interval[0]), float(interval[1])),
                       level=float(m.get("level", 0.95)), confident=bool(m.get("confident", False)),
                       detail=str(m.get("detail", "")))


# MLP neurons with SiLU/GELU are dense (small non-zero values everywhere), so SAEBench's 1% of max
# counts noise as firing; a quarter of the max keeps only clear activations. Always reported.
DEFAULT_THRESHOLD = Threshold(0.25, relative=True)


@dataclass(frozen=True)
class Subject:
    """The neuron a group of claims is about, with its predicate and firing threshold."""

    neuron: NeuronRef
    predicate: Predicate | None
    threshold: Threshold = DEFAULT_THRESHOLD
    description: str = ""


def claim_phrase(kind: str) -> str:
    """"an 'activation' claim", "a 'noise' claim": the article follows the kind's sound."""
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"{article} {kind!r} claim"


class Claim:
    """One checkable statement about a neuron. Subclasses set `kind`, `options`, `run`."""

    kind: ClassVar[str]
    #: option name -> type: bound, number, integer, string, bool, texts, text, predicate,
    #: neurons, or "enum:a|b"
    options: ClassVar[dict[str, str]] = {}
    required: ClassVar[tuple[str, ...]] = ()
    needs_corpus: ClassVar[bool] = False
    needs_predicate: ClassVar[bool] = False
    uses_tau: ClassVar[bool] = False
    summary_doc: ClassVar[str] = ""

    def __init__(self, subject: Subject, config: dict[str, Any]) -> None:
        self.subject = subject
        self.config = config

    @classmethod
    def validate_options(cls, data: dict[str, Any]) -> None:
        """Raise ValueError for unknown (with a did-you-mean) or missing options."""
        allowed = list(cls.options) + ["kind", "id", "xfail", "threshold", "fires_on", "tolerance"]
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(cls.options)}"
                raise ValueError(f"unknown option {key!r} for {claim_phrase(cls.kind)}{hint}")
        for key in cls.required:
            if key not in data:
                raise ValueError(f"{claim_phrase(cls.kind)} needs `{key}:` ({cls.options[key]})")
        for key, kind in cls.options.items():
            if key in data:
                check_option(key, kind, data[key], cls.kind)
        if "threshold" in data:
            Threshold.parse(data["threshold"])
        if "tolerance" in data:  # baseline drift tolerance (neurontest.plugin.baselines)
            from neurontest.claims.tolerance import parse_tolerance

            parse_tolerance(data["tolerance"])
        if "fires_on" in data:
            from neurontest.claims.predicates import predicate_from_dict

            predicate_from_dict(data["fires_on"])

    @property
    def neuron(self) -> NeuronRef:
        return self.subject.neuron

    @property
    def predicate(self) -> Predicate:
        """The claim's own `fires_on:` if it sets one, else its neuron's."""
        if "fires_on" in self.config:
            from neurontest.claims.predicates import predicate_from_dict

            return predicate_from_dict(self.config["fires_on"])
        if self.subject.predicate is None:
            raise ValueError(f"{claim_phrase(self.kind)} needs the neuron's `fires_on:` predicate")
        return self.subject.predicate

    def threshold(self) -> Threshold:
        """The claim's own `threshold:` if it sets one, else its neuron's."""
        if "threshold" in self.config:
            return Threshold.parse(self.config["threshold"])
        return self.subject.threshold

    def bound(self, key: str, default: str | None = None) -> Bound | None:
        raw = self.config.get(key, default)
        return None if raw is None else Bound.parse(raw)

    def neurons_to_mine(self) -> list[NeuronRef]:
        """Neurons whose corpus activations this claim reads (mined in one pass per session)."""
        # A relative threshold is a share of the corpus max, so it needs the corpus too.
        if self.needs_corpus or (self.uses_tau and self.threshold().relative):
            return [self.neuron]
        return []

    @property
    def deterministic(self) -> bool:
        """Whether running it again on the same model, corpus and code gives the same result
        (then the result may be remembered across runs)."""
        return True

    def run_settings(self) -> dict[str, Any]:
        """Run-wide settings, besides the model and corpus, that its result depends on."""
        return {}

    def check(self, lab: Lab) -> None:
        """Collection-time checks against the model and tokenizer (ValueError with a fix)."""
        if self.needs_predicate:
            self.predicate.check(lab.vocab)

    def run(self, lab: Lab) -> ClaimResult:
        raise NotImplementedError

    def describe(self) -> str:
        return self.kind


# Options whose whole-number value may be 0, and upper caps on whole numbers: a larger value is a
# typo that would allocate far beyond any machine (`draws: 100000` once asked for 320 GB).
_INT_RANGES = {"seed": (0, 2**32 - 1), "edits": (0, 64), "draws": (1, 4096), "n_prompts": (1, 256),
               "length": (1, 512), "candidates": (1, 4096), "min_positions": (0, 10**9)}
_INT_DEFAULT_RANGE = (1, 10_000)
_NUMBER_RANGES = {"keep_share": (0.0, 1.0), "scale": (0.0, 100.0)}  # confidence: claims/confidence.py
MAX_TEXT_CHARS = 4000  # one hand-written text; the model's context is checked at collection too


def check_option(key: str, tag: str, value: Any, kind: str) -> None:
    """Check one claim option against the type tag its kind declares in `options`
    (ValueError naming the option and the form it takes). Tags: bound, integer, number, text,
    texts, string, neurons, predicate, enum:a|b."""
    where = f"`{key}:` of {claim_phrase(kind)}"
    if tag == "bound":
        Bound.parse(value)
    elif tag == "integer":
        low, high = _INT_RANGES.get(key, _INT_DEFAULT_RANGE)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where} is a whole number, got {value!r:.60}")
        if not low <= value <= high:
            raise ValueError(f"{where} is {value}; give {low}..{high}")
    elif tag == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{where} is a finite number, got {value!r:.60}")
        if key in _NUMBER_RANGES:
            low, high = _NUMBER_RANGES[key]
            if not low < value <= high:
                raise ValueError(f"{where} is {value}; give a number in ({low:g}, {high:g}]")
    elif tag == "text":
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where} is one non-empty text, got {value!r:.60}")
        if len(value) > MAX_TEXT_CHARS:
            raise ValueError(f"{where} has {len(value)} characters (at most {MAX_TEXT_CHARS}); "
                             "shorten it")
    elif tag in ("texts", "neurons"):
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ValueError(f"{where} is a list of non-empty texts (a list, even for one), got "
                             f"{value!r:.60}")
        if tag == "texts" and any(len(v) > MAX_TEXT_CHARS for v in value):
            raise ValueError(f"{where}: a text over {MAX_TEXT_CHARS} characters; shorten it")
    elif tag == "string":
        if not isinstance(value, str):
            raise ValueError(f"{where} is a string, got {value!r:.60}")
    elif tag.startswith("enum:"):
        allowed = tag[len("enum:"):].split("|")
        if value not in allowed:
            raise ValueError(f"{where} is one of {', '.join(allowed)}, got {value!r:.60}")
