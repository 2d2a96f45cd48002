"""`activation`: the predicate against real firing on the corpus, scored by the field's metrics."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement
from neurontest.claims.confidence import claim_confidence, claim_min_positions, too_few_positions
from neurontest.claims.evidence import corpus_rows
from neurontest.claims.options import BoundText, ClaimOptions, Level
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.claims.verdicts import (
    SUPPORT,
    chance_scores,
    cluster_ids,
    operating_level_problem,
    share_estimates,
    shuffled_scores,
    support_counts,
    thin_support,
    vacuous_bound,
)
from neurontest.engine.run.layer_scan import SCAN_METRICS, LayerScan
from neurontest.engine.units.protocol import index_in_place, sibling
from neurontest.measure.intervals import (
    bootstrap_p_value,
    hull,
    percentile_interval,
    wilson,
    wilson_p_value,
    window_bootstrap_samples,
)
from neurontest.measure.layer_rank import layer_scores, rank_of
from neurontest.measure.metrics import METRIC_NAMES, OPERATING_POINT_METRICS, operating_point

if TYPE_CHECKING:
    import torch

    from neurontest.claims.bounds import Bound
    from neurontest.lab import Lab

FALSE_POSITIVES = "fires where the claim does not name the token (false positives: lower precision)"
FALSE_NEGATIVES = "claimed but silent (false negatives: lower recall)"
# Metrics that only misses on claimed positions can lower: their failure shows those first.
_RECALL_SIDE = {"recall", "recall_at_precision"}
#: Bounds on where the unit stands among its layer's units (one mining pass scores them all).
LAYER_RANK = ("rank_in_layer", "specificity")


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
        at_precision: Annotated[float, Field(gt=0, le=1)] | None = Field(
            None, description="the precision `recall_at_precision` is measured at")
        at_recall: Annotated[float, Field(gt=0, le=1)] | None = Field(
            None, description="the recall `precision_at_recall` is measured at")
        show: Annotated[int, Field(ge=0, le=100)] = Field(5, description="examples shown per failure side")
        confidence: Level | None = Field(None, description="bounds must hold for the interval at this level")
        min_positions: Annotated[int, Field(ge=0, le=10**9)] | None = Field(
            None, description="fewest claimed corpus positions for a verdict (default: run-wide, 20)")
        rank_in_layer: BoundText | None = Field(
            None, description="bound on the unit's rank among every unit of its layer (or SAE) "
                              "on `rank_by`; 1: no unit of the layer fits the predicate better")
        specificity: BoundText | None = Field(
            None, description="bound on the share of the layer's other units it beats on `rank_by`")
        rank_by: Literal["f1", "iou", "auprc", "pearson", "precision", "recall"] | None = Field(
            None, description="the metric `rank_in_layer` and `specificity` rank by (default: the "
                              "first of f1, iou, auprc, pearson, precision, recall the claim bounds, "
                              "else f1)")

        @model_validator(mode="after")
        def _metric_and_levels(self) -> ActivationClaim.Options:
            names = METRIC_NAMES + tuple(OPERATING_POINT_METRICS)
            if all(getattr(self, name) is None for name in (*names, *LAYER_RANK)):
                raise ValueError(
                    f"an 'activation' claim needs at least one metric bound, e.g. `f1: '>= 0.7'` "
                    f"(metrics: {', '.join(names + LAYER_RANK)})")
            if self.rank_by is not None and all(getattr(self, n) is None for n in LAYER_RANK):
                raise ValueError("`rank_by:` sets the metric of `rank_in_layer:` / `specificity:`; "
                                 "add one of them")
            for name, level in OPERATING_POINT_METRICS.items():
                other = name.split("_at_")[1]
                if getattr(self, name) is not None and getattr(self, level) is None:
                    raise ValueError(f"`{name}:` needs `{level}:`, the {other} it is measured at, "
                                     f"e.g. `{name}: '>= 0.95'` with `{level}: 0.9`")
                if getattr(self, level) is not None and getattr(self, name) is None:
                    raise ValueError(f"`{level}:` only sets the level of `{name}:`; add a `{name}:` bound")
            if self.confidence is not None:
                exact = [n for n in names if str(getattr(self, n) or "").strip().startswith("==")]
                if exact:
                    raise ValueError(f"`confidence:` needs one-sided bounds; `{exact[0]}:` uses `==`, "
                                     f"which no interval can confirm: write '>=' or '<='")
            return self

    def run_settings(self, settings: RunSettings) -> dict[str, Any]:
        return {"min_positions": settings.min_positions}

    @property
    def ranks_in_layer(self) -> bool:
        return any(name in self.config for name in LAYER_RANK)

    def neurons_to_mine(self) -> list[Any]:
        return [self.neuron, self.layer_scan()] if self.ranks_in_layer else [self.neuron]

    def layer_scan(self) -> LayerScan:
        """Every unit of the claimed unit's layer against this claim's predicate and tau rule,
        summed in the session's mining pass (keyed by the predicate, for the activation cache)."""
        threshold = self.threshold()
        key = hashlib.sha256(repr(self.predicate).encode()).hexdigest()[:16]
        return LayerScan(self.neuron, key, None if threshold.relative else float(threshold.value),
                         sources=self.predicate)

    def check(self, lab: Lab) -> None:
        super().check(lab)
        if self.ranks_in_layer and self.neuron.kind not in ("neuron", "head", "latent"):
            raise ValueError(f"{self.neuron.short_id}: a {self.neuron.kind} has no layer of "
                             "siblings to rank it among; drop `rank_in_layer:` / `specificity:`")

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
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
        stats = _Statistics(a, c, cluster_ids(lab, mask), tau, scores, operating, level)
        counts = support_counts(scores)
        n_positions = int(scores["n_positions"])
        base_rate, firing_rate = counts["claimed"] / max(n_positions, 1), counts["firing"] / max(n_positions, 1)
        chance = chance_scores(base_rate, firing_rate, operating)
        shuffled = shuffled_scores(values, claimed, mask, tau, operating)
        needed = claim_min_positions(self.settings, settings)

        def measurement(name: str, bounded: bool) -> Measurement:
            bound = self.bound(name) if bounded else None
            interval = stats.interval(name)
            thin = thin_support(name, counts, needed) if bounded else ""
            if bounded and confident and interval is None:
                thin = thin or f"{name} has no interval (fewer than 2 corpus windows) for `confidence:`"
            return Measurement(name, scores[name], bound, interval=interval, level=level,
                               confident=confident and bounded,
                               detail=plain_words(name, scores, operating.get(name)),
                               p_value=None if bound is None else stats.p_value(name, bound),
                               chance=chance.get(name) if bounded else None, thin=thin)

        asked = [n for n in (*METRIC_NAMES, *operating) if n in self.config]
        measurements = ([measurement(n, True) for n in asked]
                        + [measurement(n, False) for n in METRIC_NAMES if n not in self.config])
        invalid = "; ".join(filter(None, [
            *(operating_level_problem(n, at, base_rate) for n, at in operating.items()),
            *(vacuous_bound(m.name, m.bound, chance, shuffled, base_rate)
              for m in measurements if m.bound is not None)]))
        show = self.settings.show
        false_positives = Evidence(FALSE_POSITIVES, corpus_rows(
            lab, self.neuron, mask & ~claimed & (values > tau), show, claimed))
        false_negatives = Evidence(FALSE_NEGATIVES, corpus_rows(
            lab, self.neuron, claimed & (values <= tau), show, claimed, weakest=True))
        failing = {m.name for m in measurements if not m.passed}
        recall_side = bool(failing) and failing <= _RECALL_SIDE
        evidence = [false_negatives, false_positives] if recall_side else [false_positives, false_negatives]
        thin = [m for m in measurements if m.inconclusive]
        inconclusive = ""
        if thin:
            inconclusive = ("inconclusive: " + "; ".join(m.thin for m in thin) + ", and its interval "
                            "straddles the bound. " + too_few_positions(counts["claimed"], n_positions))
        if self.ranks_in_layer:
            ranked, rivals, n_units = self._layer_rank(lab, threshold, counts, needed)
            measurements = [*ranked, *measurements]
            if any(not m.passed for m in ranked):
                evidence = [*rivals, *evidence]
            invalid = "; ".join(filter(None, [invalid, *(_rank_vacuous(m, n_units)
                                                         for m in ranked)]))
            thin = [m for m in measurements if m.inconclusive]
            if thin and not inconclusive:
                inconclusive = ("inconclusive: " + "; ".join(m.thin for m in thin) + ". "
                                + too_few_positions(counts["claimed"], n_positions))
        undecided = [m for m in measurements if m.bound is not None and not m.decided_by_interval]
        advice = stats.power_lines(undecided)
        relative = "" if not threshold.relative else " = " + threshold.describe()
        summary = (f"{self.predicate.describe()} vs firing (tau={tau:.3g}{relative}) over "
                   f"{n_positions:,} tokens: {counts['claimed']:,} claimed (base rate "
                   f"{base_rate:.3g}), {counts['firing']:,} firing, {int(scores['n_both']):,} both")
        return ClaimResult(self.kind, self.neuron, measurements, summary, evidence,
                           inconclusive=inconclusive, invalid=invalid, advice=advice)


    def _rank_by(self) -> str:
        if self.settings.rank_by is not None:
            return self.settings.rank_by
        return next((n for n in SCAN_METRICS if n in self.config), "f1")

    def _layer_rank(self, lab: Lab, threshold: Any, counts: dict[str, int],
                    needed: int) -> tuple[list[Measurement], list[Evidence], int]:
        """`rank_in_layer` / `specificity` measurements, the top examples of the unit that fits
        the predicate best in its place (shown when a rank bound fails), and the layer's size."""
        metric = self._rank_by()
        summary = lab.activations(self.layer_scan())
        scores = layer_scores(summary, tau=None if threshold.relative else float(threshold.value),
                              relative=float(threshold.value) if threshold.relative else None)
        unit = self.neuron
        rank = rank_of(scores[metric], index_in_place(unit), metric)
        rivals = ", ".join(f"{sibling(unit, i).short_id} {v:.3g}" for i, v in rank.better) or "none"
        p_value = rank.rank / rank.n_units  # a unit drawn at random from the layer ranks this well
        thin = thin_support(metric, counts, needed)
        detail = (f"by {metric} ({rank.own:.3g}) among the {rank.n_units:,} units of its layer "
                  f"(p: the chance a unit drawn at random ranks this well); units that fit "
                  f"better: {rivals}")
        out = []
        for name, value in (("rank_in_layer", float(rank.rank)), ("specificity", rank.specificity)):
            bound = self.bound(name)
            if bound is not None:
                out.append(Measurement(name, value, bound, detail=detail, p_value=p_value,
                                       thin=thin))
        evidence = []
        if rank.better:
            best, score = rank.better[0]
            rival = sibling(unit, best)
            values = lab.activations(rival)
            tau = float(scores["tau"][best])
            claimed = lab.claimed(self.predicate)
            mask = lab.sample.batch.mask
            evidence.append(Evidence(
                f"this predicate is about {rival.short_id} ({metric} {score:.3g}) more than "
                f"{unit.short_id} ({rank.own:.3g}): its strongest firing", corpus_rows(
                    lab, rival, mask & (values > tau), self.settings.show, claimed)))
        return out, evidence, rank.n_units


def _rank_vacuous(m: Measurement, n_units: int) -> str:
    """A rank bound that half the layer's units would meet says nothing about this one."""
    bound = m.bound
    if bound is None:
        return ""
    if m.name == "specificity" and bound.op in (">=", ">") and bound.value <= 0.5:
        return (f"`specificity: {bound.op} {bound.value:g}` is met by half of the layer's units "
                "(a unit drawn at random beats half the others); claim more, e.g. '>= 0.99'")
    if m.name == "rank_in_layer" and bound.op in ("<=", "<") and bound.value >= (n_units + 1) / 2:
        return (f"`rank_in_layer: {bound.op} {bound.value:g}` is met by half of the layer's "
                f"{n_units:,} units; claim a rank near the top, e.g. '<= 3'")
    return ""


class _Statistics:
    """Intervals, p-values and power of one claim's metrics, from one seeded cluster bootstrap
    (plus Wilson's score interval and test for the shares, whichever is wider or larger)."""

    def __init__(self, a: torch.Tensor, c: torch.Tensor, clusters: torch.Tensor, tau: float,
                 scores: dict[str, float], operating: dict[str, float], level: float) -> None:
        self.scores, self.level = scores, level
        point = {name: scores[name] for name in (*METRIC_NAMES, *operating)}
        self.samples = window_bootstrap_samples(a, c, clusters, tau, point, operating=operating)
        self.shares = {"precision": (scores["n_both"], scores["n_firing"]),
                       "recall": (scores["n_both"], scores["n_claimed"])}

    def interval(self, name: str) -> tuple[float, float] | None:
        samples = self.samples.get(name)
        boot = None if samples is None or samples.numel() == 0 else percentile_interval(
            samples, self.level, self.scores[name])
        if name in self.shares:
            return hull(wilson(*self.shares[name], self.level), boot)
        if name in ("f1", "iou"):  # both are increasing in precision and recall
            (p_lo, p_hi), (r_lo, r_hi) = (wilson(*self.shares[s], self.level) for s in ("precision", "recall"))
            combine = _f1 if name == "f1" else _iou
            return hull((combine(p_lo, r_lo), combine(p_hi, r_hi)), boot)
        return boot

    def p_value(self, name: str, bound: Bound) -> float | None:
        samples = self.samples.get(name)
        found = [] if samples is None or samples.numel() == 0 else [
            bootstrap_p_value(samples, bound.op, bound.value)]
        if name in self.shares:
            found.append(wilson_p_value(*self.shares[name], bound.op, bound.value))
        found = [p for p in found if p is not None]
        return max(found) if found else None

    def power_lines(self, undecided: list[Measurement]) -> list[str]:
        """For metrics the evidence does not yet decide: the positions (and corpus tokens at
        this rate) that would pin the share each rests on to +-0.05."""
        sides = {side for m in undecided for side in SUPPORT.get(m.name, ())}
        return [e.describe() for e in share_estimates(self.scores, self.samples, sides, level=self.level)]


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _iou(p: float, r: float) -> float:
    return 1 / (1 / p + 1 / r - 1) if p > 0 and r > 0 else 0.0


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
