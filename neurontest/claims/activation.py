"""`activation`: the predicate against real firing on the corpus, scored by the field's metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, model_validator

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement
from neurontest.claims.confidence import claim_confidence, claim_min_positions, too_few_positions
from neurontest.claims.evidence import corpus_rows
from neurontest.claims.options import BoundText, ClaimOptions, Level
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.measure.metrics import METRIC_NAMES, OPERATING_POINT_METRICS

if TYPE_CHECKING:
    from neurontest.lab import Lab

FALSE_POSITIVES = "fires where the claim does not name the token (false positives: lower precision)"
FALSE_NEGATIVES = "claimed but silent (false negatives: lower recall)"
# Metrics that only misses on claimed positions can lower: their failure shows those first.
_RECALL_SIDE = {"recall", "recall_at_precision"}


class ActivationClaim(Claim):
    """Bounds on precision, recall, F1, IoU, AUPRC, Pearson, variance explained, balanced
    accuracy, or the threshold-free `recall_at_precision` (with `at_precision:`) and
    `precision_at_recall` (with `at_recall:`), of `fires_on` against `activation > tau` over the
    corpus. Every metric carries an interval; `confidence:` makes bounds hold for all of it, and
    a predicate naming fewer than `min_positions` corpus positions gives no verdict."""

    kind = "activation"
    needs_corpus = True
    needs_predicate = True

    class Options(ClaimOptions):
        precision: BoundText | None = Field(None, description="share of firing positions claimed")
        recall: BoundText | None = Field(None, description="share of claimed positions firing")
        f1: BoundText | None = Field(None, description="harmonic mean of precision and recall")
        iou: BoundText | None = Field(None, description="claimed and firing over claimed or firing")
        auprc: BoundText | None = Field(None, description="area under the precision-recall curve")
        pearson: BoundText | None = Field(None, description="correlation of activation and claim")
        variance_explained: BoundText | None = Field(
            None, description="share of the activation's variance between claimed and unclaimed")
        balanced_accuracy: BoundText | None = Field(None, description="mean of recall and specificity")
        recall_at_precision: BoundText | None = Field(
            None, description="best recall at precision >= `at_precision`")
        precision_at_recall: BoundText | None = Field(
            None, description="best precision at recall >= `at_recall`")
        at_precision: Annotated[float, Field(ge=0, le=1)] | None = Field(
            None, description="the precision `recall_at_precision` is measured at")
        at_recall: Annotated[float, Field(ge=0, le=1)] | None = Field(
            None, description="the recall `precision_at_recall` is measured at")
        show: Annotated[int, Field(ge=0, le=100)] = Field(5, description="examples shown per failure side")
        confidence: Level | None = Field(None, description="bounds must hold for the interval at this level")
        min_positions: Annotated[int, Field(ge=0, le=10**9)] | None = Field(
            None, description="fewest claimed corpus positions for a verdict (default: run-wide, 20)")

        @model_validator(mode="after")
        def _metric_and_levels(self) -> ActivationClaim.Options:
            names = METRIC_NAMES + tuple(OPERATING_POINT_METRICS)
            if all(getattr(self, name) is None for name in names):
                raise ValueError(
                    f"an 'activation' claim needs at least one metric bound, e.g. `f1: '>= 0.7'` "
                    f"(metrics: {', '.join(names)})")
            for name, level in OPERATING_POINT_METRICS.items():
                other = name.split("_at_")[1]
                if getattr(self, name) is not None and getattr(self, level) is None:
                    raise ValueError(f"`{name}:` needs `{level}:`, the {other} it is measured at, "
                                     f"e.g. `{name}: '>= 0.95'` with `{level}: 0.9`")
                if getattr(self, level) is not None and getattr(self, name) is None:
                    raise ValueError(f"`{level}:` only sets the level of `{name}:`; add a `{name}:` bound")
            return self

    def run_settings(self, settings: RunSettings) -> dict[str, Any]:
        return {"min_positions": settings.min_positions}

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        from neurontest.measure.intervals import wilson, window_bootstrap
        from neurontest.measure.metrics import operating_point

        threshold = self.threshold()
        level, confident = claim_confidence(self.settings)
        values = lab.activations(self.neuron)
        mask = lab.sample.batch.mask
        claimed = lab.claimed(self.predicate)
        a, c = values[mask], claimed[mask]
        scores = lab.score(self.neuron, self.predicate, threshold)
        tau = scores["tau"]
        operating = {name: float(getattr(self.settings, level_key))
                     for name, level_key in OPERATING_POINT_METRICS.items() if name in self.config}
        for name, at in operating.items():
            scores[name] = operating_point(name, a, c, at)
        # Window of each scorable position: the unit the bootstrap resamples.
        windows = mask.nonzero()[:, 0]
        intervals = window_bootstrap(a, c, windows, tau, scores, operating=operating, level=level)
        intervals["precision"] = wilson(scores["n_both"], scores["n_firing"], level)
        intervals["recall"] = wilson(scores["n_both"], scores["n_claimed"], level)

        def measurement(name: str, bounded: bool) -> Measurement:
            return Measurement(name, scores[name], self.bound(name) if bounded else None,
                               interval=intervals.get(name), level=level,
                               confident=confident and bounded,
                               detail=plain_words(name, scores, operating.get(name)))

        asked = [n for n in (*METRIC_NAMES, *operating) if n in self.config]
        measurements = ([measurement(n, True) for n in asked]
                        + [measurement(n, False) for n in METRIC_NAMES if n not in self.config])
        show = self.settings.show
        false_positives = Evidence(FALSE_POSITIVES, corpus_rows(
            lab, self.neuron, mask & ~claimed & (values > tau), show, claimed))
        false_negatives = Evidence(FALSE_NEGATIVES, corpus_rows(
            lab, self.neuron, claimed & (values <= tau), show, claimed, weakest=True))
        failing = {m.name for m in measurements if not m.passed}
        recall_side = bool(failing) and failing <= _RECALL_SIDE
        evidence = [false_negatives, false_positives] if recall_side else [false_positives, false_negatives]
        n_claimed, needed = int(scores["n_claimed"]), claim_min_positions(self.settings, settings)
        inconclusive = (too_few_positions(n_claimed, needed, int(scores["n_positions"]))
                        if n_claimed < needed else "")
        relative = "" if not threshold.relative else " = " + threshold.describe()
        summary = (f"{self.predicate.describe()} vs firing (tau={tau:.3g}{relative}) over "
                   f"{int(scores['n_positions']):,} tokens: {n_claimed:,} claimed, "
                   f"{int(scores['n_firing']):,} firing, {int(scores['n_both']):,} both")
        return ClaimResult(self.kind, self.neuron, measurements, summary, evidence,
                           inconclusive=inconclusive)


def plain_words(name: str, scores: dict[str, float], at: float | None = None) -> str:
    """What metric `name` measured, in words and with its counts."""
    n, n_c, n_y, both = (int(scores[k]) for k in ("n_positions", "n_claimed", "n_firing", "n_both"))
    share = scores[name]
    words = {
        "precision": f"of the {n_y:,} positions where it fires, {share:.1%} are what the claim names",
        "recall": f"of the {n_c:,} positions the claim names, it fires on {share:.1%}",
        "f1": "harmonic mean of precision and recall",
        "iou": f"{both:,} positions both claimed and firing, of {n_c + n_y - both:,} claimed or firing",
        "auprc": f"ranking all {n:,} positions by activation (no threshold), the mean precision "
                 f"at the rank of each of the {n_c:,} claimed positions",
        "pearson": f"correlation of the activation with the claim over {n:,} positions",
        "variance_explained": "share of the activation's variance that lies between claimed and "
                              "unclaimed positions",
        "balanced_accuracy": "mean of recall and of the share of unclaimed positions where it is silent",
    }
    if at is not None:
        words["recall_at_precision"] = (f"the best recall of any activation threshold whose "
                                        f"precision is at least {at:g}")
        words["precision_at_recall"] = (f"the best precision of any activation threshold whose "
                                        f"recall is at least {at:g}")
    return words.get(name, "")
