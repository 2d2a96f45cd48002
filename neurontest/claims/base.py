"""What every claim kind shares: bounds, measurements, results, the subject neuron, options.

A claim kind is a `Claim` subclass registered under its YAML name (`neurontest.format.kinds`). It declares
its options once, as a typed `Options` model (`neurontest.claims.options`), which drives
validation with "did you mean" hints, defaults and the published JSON Schema alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from neurontest.claims.bounds import DEFAULT_THRESHOLD, Bound, Threshold
from neurontest.claims.marked import mark_positions
from neurontest.claims.options import ClaimOptions, claim_phrase, validate_claim_options
from neurontest.claims.predicates import predicate_from_dict
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.engine.models.sae_loading import unit_from_dict

if TYPE_CHECKING:
    from neurontest.claims.marked import MarkedText
    from neurontest.claims.predicates import Predicate
    from neurontest.engine.units.protocol import UnitRef
    from neurontest.lab import Lab

@dataclass
class Measurement:
    """One measured number, the bound it was held to, and whether it held.

    `interval` is its confidence interval at `level` (None where none is defined). With
    `confident` the bound must hold for the whole interval: its lower end for `>=`/`>`, its upper
    end for `<=`/`<`. `detail` says the metric in plain words with its counts.

    The verdict's statistics (docs/metrics.md, "Verdicts"): `p_value` is the one-sided p-value of
    "the metric is on the claimed side of the bound"; `chance` what a unit that ignores the text
    scores; `thin` why the positions this metric rests on are too few ("" when enough). A thin
    metric is decided only by an interval lying wholly on one side of its bound."""

    name: str
    value: float
    bound: Bound | None = None
    interval: tuple[float, float] | None = None
    level: float = 0.95
    confident: bool = False
    detail: str = ""
    p_value: float | None = None
    chance: float | None = None
    thin: str = ""

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

    @property
    def decided_by_interval(self) -> bool:
        """Whether the whole interval lies on one side of the bound (then no sample of this
        size would plausibly change the verdict)."""
        if self.bound is None or self.interval is None:
            return False
        lo, hi = self.interval
        if self.bound.op == "==":  # only a point interval lies on one side of a point
            return lo == hi
        return self.bound.holds(lo) == self.bound.holds(hi)

    @property
    def inconclusive(self) -> bool:
        """Too few positions on this metric's own side, and an interval that straddles the bound."""
        return self.bound is not None and bool(self.thin) and not self.decided_by_interval

    def interval_text(self) -> str:
        """`95% CI 0.1-0.117`, or "" without an interval."""
        if self.interval is None:
            return ""
        return f"{self.level:.0%} CI {self.interval[0]:.3g} to {self.interval[1]:.3g}"

    def chance_text(self) -> str:
        """`chance 0.055, lift 18x`: the text-ignoring unit's score and this one's lift over it."""
        if self.chance is None:
            return ""
        text = f"chance {self.chance:.3g}"
        if self.chance > 0 and self.value >= 0:
            text += f", lift {self.value / self.chance:.3g}x"
        return text

    def __str__(self) -> str:
        notes = []
        if self.bound is not None:
            held = (f"the CI's {'lower' if self.bound.op in ('>=', '>') else 'upper'} end"
                    if self.confident and self.checked_value != self.value else "")
            if self.passed:
                notes.append(f"ok, {self.bound}" + (f" for {held}" if held else ""))
            else:
                notes.append(f"expected {self.bound}" + (f" for {held}" if held else ""))
        notes += [text for text in (self.interval_text(), self.chance_text()) if text]
        if self.p_value is not None and self.bound is not None:
            notes.append(f"p = {self.p_value:.2g}")
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
    neuron: UnitRef
    measurements: list[Measurement]
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    extra_failures: list[str] = field(default_factory=list)
    cached: bool = False  # remembered from an earlier run (neurontest.plugin.result_cache)
    #: why the evidence is too thin for any verdict ("" if it is enough); such a claim fails
    inconclusive: str = ""
    #: the firing threshold the claim was judged at (the report marks it on the colour scale)
    tau: float | None = None
    #: why the claim as written cannot give a verdict ("" if it can): a bound that a unit
    #: ignoring the text also meets. Such a claim fails, whether or not it is marked xfail.
    invalid: str = ""
    #: what more evidence would settle an undecided metric ("recall = 0.12 +- 0.09 on 14 ...")
    advice: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """`invalid`, `inconclusive`, `passed` or `failed`: what the evidence says of the claim."""
        if self.invalid:
            return "invalid"
        if self.inconclusive:
            return "inconclusive"
        if not self.extra_failures and all(m.passed for m in self.measurements):
            return "passed"
        return "failed"

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    @property
    def p_value(self) -> float | None:
        """The one-sided p-value of the whole claim: every bound must hold, so the largest of
        its bounded metrics' p-values (an intersection-union test); None when none has one."""
        values = [m.p_value for m in self.measurements if m.bound is not None and m.p_value is not None]
        return max(values) if values else None

    def intervals(self) -> dict[str, tuple[float, float]]:
        """Each metric's confidence interval, for those that have one."""
        return {m.name: m.interval for m in self.measurements if m.interval is not None}

    def metrics(self) -> dict[str, float]:
        return {m.name: m.value for m in self.measurements}


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
        invalid=str(data.get("invalid", "")),
        advice=[str(line) for line in data.get("advice", [])],
    )


def _measurement_from_dict(m: dict[str, Any]) -> Measurement:
    interval = m.get("interval")
    return Measurement(m["name"], m["value"], None if m["bound"] is None else Bound(**m["bound"]),
                       interval=None if interval is None else (float(interval[0]), float(interval[1])),
                       level=float(m.get("level", 0.95)), confident=bool(m.get("confident", False)),
                       detail=str(m.get("detail", "")),
                       p_value=None if m.get("p_value") is None else float(m["p_value"]),
                       chance=None if m.get("chance") is None else float(m["chance"]),
                       thin=str(m.get("thin", "")))


@dataclass(frozen=True)
class Subject:
    """The neuron a group of claims is about, with its predicate and firing threshold."""

    neuron: UnitRef
    predicate: Predicate | None
    threshold: Threshold = DEFAULT_THRESHOLD
    description: str = ""
    #: the hypothesis file's folder, where a claim's own `python:` predicate is looked up (not
    #: part of what the claim says: results of the same claim in another checkout are the same)
    base_dir: Path | None = field(default=None, repr=False, compare=False)


class Claim:
    """One checkable statement about a neuron. Subclasses set `kind`, `options`, `run`."""

    kind: ClassVar[str]
    #: the kind's options: validation, defaults, messages and schema (neurontest.claims.options)
    Options: ClassVar[type[ClaimOptions]] = ClaimOptions
    needs_corpus: ClassVar[bool] = False
    needs_predicate: ClassVar[bool] = False
    uses_tau: ClassVar[bool] = False
    summary_doc: ClassVar[str] = ""

    def __init__(self, subject: Subject, config: dict[str, Any],
                 options: ClaimOptions | None = None) -> None:
        """`options`: the typed options when the caller already validated `config` (a hypothesis
        file is validated once, at parse time, beside its file); else they are validated here."""
        self.subject = subject
        #: the typed options, defaults filled in
        self.settings: Any = options if options is not None else validate_claim_options(
            self.Options, config, self.kind, subject.base_dir)
        # The options as written (they key caches), where an explicit `null` means "not set",
        # as the typed model reads it.
        self.config = {k: v for k, v in config.items() if v is not None}
        self._own_predicate: Predicate | None = None
        self._parsed: dict[str, Any] = {}  # thresholds and bounds, parsed on first use

    @classmethod
    def validate_options(cls, data: dict[str, Any], base_dir: Path | None = None) -> ClaimOptions:
        """The typed options of a claim mapping, or ValueError: one line naming the option."""
        return validate_claim_options(cls.Options, data, cls.kind, base_dir)

    @property
    def neuron(self) -> UnitRef:
        return self.subject.neuron

    @property
    def predicate(self) -> Predicate:
        """The claim's own `fires_on:` if it sets one (parsed once, beside its file), else its
        neuron's."""
        if "fires_on" in self.config:
            if self._own_predicate is None:
                self._own_predicate = predicate_from_dict(self.config["fires_on"],
                                                          base_dir=self.subject.base_dir)
            return self._own_predicate
        if self.subject.predicate is None:
            raise ValueError(f"{claim_phrase(self.kind)} needs the neuron's `fires_on:` predicate")
        return self.subject.predicate

    def threshold(self) -> Threshold:
        """The claim's own `threshold:` if it sets one, else its neuron's."""
        if "threshold" not in self.config:
            return self.subject.threshold
        if "threshold" not in self._parsed:
            self._parsed["threshold"] = Threshold.parse(self.config["threshold"])
        return self._parsed["threshold"]

    def bound(self, key: str, default: str | None = None) -> Bound | None:
        raw = self.config.get(key, default)
        if raw is None:
            return None
        if (key, raw) not in self._parsed:
            self._parsed[(key, raw)] = Bound.parse(raw)
        return self._parsed[(key, raw)]

    def neurons_to_mine(self) -> list[UnitRef]:
        """Neurons whose corpus activations this claim reads (mined in one pass per session)."""
        # A relative threshold is a share of the corpus max, so it needs the corpus too.
        if self.needs_corpus or (self.uses_tau and self.threshold().relative):
            return [self.neuron]
        return []

    def deterministic(self, settings: RunSettings) -> bool:
        """Whether running it again on the same model, corpus, code and settings gives the same
        result (then the result may be remembered across runs)."""
        return True

    def run_settings(self, settings: RunSettings) -> dict[str, Any]:
        """The run-wide settings, besides the model and corpus, that its result depends on."""
        return {}

    def check(self, lab: Lab) -> None:
        """Collection-time checks against the model and tokenizer (ValueError with a fix)."""
        if self.needs_predicate:
            self.predicate.check(lab.vocab)

    def checked_text(self, lab: Lab, text: str, key: str, *, require_marks: bool = False,
                     max_tokens: int | None = None) -> MarkedText:
        """A text option tokenized, its marks found, and its length checked against the model's
        context (and `max_tokens` where a claim's cost grows faster than its length)."""
        marked = mark_positions(lab.tokenizer, text, require_marks=require_marks)
        limits = [n for n in (lab.context_length, max_tokens) if n is not None]
        limit = min(limits, default=len(marked.ids))
        if len(marked.ids) > limit:
            why = ("the model reads at most" if limit == lab.context_length
                   else f"{claim_phrase(self.kind)} takes at most")
            raise ValueError(f"`{key}:` of {claim_phrase(self.kind)}: {_excerpt(text)} is "
                             f"{len(marked.ids)} tokens; {why} {limit}; shorten it")
        return marked

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        """Measure the claim on `lab` (its units already mined when it runs through a
        `ClaimRunner`) under the run-wide `settings`."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.kind


def _excerpt(text: str) -> str:
    """A long text named in a message by its start."""
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")
