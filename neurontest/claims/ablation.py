"""`ablation`: knocking the neuron out changes the model's next-token log-probs by a bound."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from neurontest.claims.bounds import Bound
from neurontest.claims.causal import TargetOption, parse_target
from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.claims.confidence import claim_confidence
from neurontest.claims.marked import mark_positions
from neurontest.claims.options import BoundText, ClaimOptions, Level, NeuronIds, Texts
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.engine.neuron import NeuronRef

if TYPE_CHECKING:
    from neurontest.lab import Lab
    from neurontest.measure.ablation import AblationEffect
    from neurontest.measure.targets import Target

#: Texts below which an effect's verdict needs its interval wholly on one side of the bound.
MIN_TEXTS = 5


class AblationClaim(Claim):
    """Zero- or mean-ablating the neuron (plus `also_ablate`), or steering it (`mode: steer`:
    `steer_by` added to its activation), changes the log-prob of the true
    next token, or of `target`, at the [[marked]] positions of `texts` (every position if
    unmarked) by a mean within `effect`; `kl` bounds the mean KL(clean || ablated) there. The
    mean effect and KL carry a t interval over texts (n-1 degrees of freedom: honest with few
    texts) and a one-sided t-test p-value; `confidence:` makes the bounds hold for the interval
    and needs at least 3 texts. Fewer than `MIN_TEXTS` texts decide only when the interval
    lies wholly on one side of the bound. The whole distribution (min, median, max) is
    reported: means can hide cancelling effects."""

    kind = "ablation"

    class Options(ClaimOptions):
        texts: Texts = Field(description="texts whose [[marked]] positions are measured")
        target: TargetOption | None = Field(None, description=(
            "a token whose log-prob is measured instead of the true next token, {answer:, foil:} "
            "(the change in their logit difference), or `next` (the default)"))
        mode: Literal["zero", "mean", "steer"] = Field(
            "zero", description="zero or corpus-mean ablation, or steering by `steer_by`")
        steer_by: Annotated[float, Field(ge=-1000, le=1000)] | None = Field(
            None, description="with `mode: steer`: added to the unit's activation at every position")
        also_ablate: NeuronIds | None = Field(None, description="more neurons ablated together")
        effect: BoundText | None = Field(None, description="bound on the mean log-prob change")
        kl: BoundText | None = Field(None, description="bound on the mean KL(clean || ablated)")
        confidence: Level | None = Field(None, description="`effect` must hold for the interval")

        @model_validator(mode="after")
        def _needs_a_bound(self) -> AblationClaim.Options:
            if self.effect is None and self.kl is None:
                raise ValueError("an 'ablation' claim needs `effect:` (e.g. '<= -0.5') and/or `kl:`")
            if self.confidence is not None and len(self.texts) < 3:
                raise ValueError(f"`confidence:` needs at least 3 texts for an interval over texts "
                                 f"(this claim has {len(self.texts)}); add texts or drop `confidence:`")
            if (self.mode == "steer") != (self.steer_by is not None):
                raise ValueError("`mode: steer` and `steer_by:` go together (steer_by: how much to "
                                 "add to the unit's activation, e.g. 5.0)")
            return self

    @property
    def ablated(self) -> list[NeuronRef]:
        return [self.neuron] + [NeuronRef.parse(r) for r in self.settings.also_ablate or []]

    def neurons_to_mine(self) -> list[NeuronRef]:
        return self.ablated if self.settings.mode == "mean" else []

    def check(self, lab: Lab) -> None:
        for ref in self.ablated:
            lab.check_neuron(ref)
        parse_target(self.settings.target).check(lab.tokenizer)
        for text in self.settings.texts:
            marked = self.checked_text(lab, text, "texts")
            if parse_target(self.settings.target).is_next and marked.positions and max(marked.positions) == len(marked.ids) - 1:
                raise ValueError(f"{text!r}: the marked token is the last one, so it has no true "
                                 f"next token; set `target:` or mark an earlier token")

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        from neurontest.measure.ablation import ablate

        mode = self.settings.mode
        goal = parse_target(self.settings.target)
        tokens = [t for t in (goal.token, goal.answer, goal.foil) if t is not None]
        means = {n: float(lab.scorable(n).mean()) for n in self.ablated} if mode == "mean" else None
        marked = [mark_positions(lab.tokenizer, t) for t in self.settings.texts]
        effects = ablate(lab.model, self.ablated, [m.text for m in marked], mode=mode, means=means,
                         steer_by=self.settings.steer_by, targets=tokens)
        diffs, kls, rows, texts_of, kl_texts = [], [], [], [], []
        for text_index, (m, effect) in enumerate(zip(marked, effects)):
            series = _series(effect, goal)
            positions = list(m.positions) or list(range(len(series)))
            positions = [p for p in positions if p < len(series)]
            diffs += [series[p] for p in positions]
            texts_of += [text_index] * len(positions)
            text_kls = [effect.kl[p] for p in positions if p < len(effect.kl)]
            kls += text_kls
            kl_texts += [text_index] * len(text_kls)
            rows.append(TokenRow(effect.str_tokens, list(series) + [0.0] * (len(effect.str_tokens) - len(series)),
                                 positions, label=_label(goal, "the next token"),
                                 pieces=effect.pieces))
        level, confident = claim_confidence(self.settings)
        n_texts = len(set(texts_of))
        measurements = []
        if diffs:
            measurements.append(self._mean_over_texts(
                "effect", diffs, texts_of, level, confident,
                f"mean log-prob change over {len(diffs)} position(s) in {n_texts} text(s)"))
            measurements += [Measurement("effect_min", min(diffs)),
                             Measurement("effect_median", statistics.median(diffs)),
                             Measurement("effect_max", max(diffs))]
        if kls:
            measurements.append(self._mean_over_texts(
                "kl", kls, kl_texts, level, confident, "mean KL(clean || edited)"))
        names = ", ".join(n.short_id for n in self.ablated)
        edit = (f"steering {names} by {self.settings.steer_by:+g}" if mode == "steer"
                else f"{mode}-ablating {names}")
        summary = (f"{edit}: mean {_label(goal, 'the true next token')} "
                   f"at {len(diffs)} position(s)")
        what = "steering (steered - clean)" if mode == "steer" else "ablation (ablated - clean)"
        evidence = [Evidence(f"log-prob change under {what}", rows, value_label="delta log-prob")]
        failures = [] if diffs else ["no position to measure: mark tokens that have a next token"]
        thin = [m.thin for m in measurements if m.inconclusive]
        inconclusive = ("inconclusive: " + "; ".join(thin) + ", and its interval straddles the "
                        "bound: add texts") if thin else ""
        return ClaimResult(self.kind, self.neuron, measurements, summary, evidence, failures,
                           inconclusive=inconclusive)

    def _mean_over_texts(self, name: str, values: list[float], texts_of: list[int], level: float,
                         confident: bool, detail: str) -> Measurement:
        return mean_over_texts(name, self.bound(name), values, texts_of, level, confident, detail)


def _series(effect: AblationEffect, target: Target) -> list[float]:
    """The change of the target at each position: a logit difference changes by the difference
    of the two log-prob changes (log-softmax shifts both logits alike)."""
    if target.answer is not None:
        return [a - f for a, f in zip(effect.target_logprob_diff[target.answer],
                                      effect.target_logprob_diff[target.foil or ""])]
    if target.token is not None:
        return effect.target_logprob_diff[target.token]
    return effect.true_next_logprob_diff


def _label(target: Target, next_token: str) -> str:
    if target.answer is not None:
        return f"change of {target.label}"
    return f"log-prob change of {target.token or next_token}"


def mean_over_texts(name: str, bound: Bound | None, values: list[float], texts_of: list[int],
                    level: float, confident: bool, detail: str, *, what: str = "text") -> Measurement:
    """A mean over positions whose interval and p-value treat each text (or pair) as one
    observation (positions of one text are not independent); fewer than `MIN_TEXTS` texts make
    it thin. The rule every causal claim kind holds its per-text effects to."""
    from neurontest.measure.intervals import clustered_mean_interval, t_p_value

    per_text: dict[int, list[float]] = {}
    for value, text in zip(values, texts_of):
        per_text.setdefault(text, []).append(value)
    text_means = [statistics.fmean(v) for v in per_text.values()]
    n_texts = len(text_means)
    thin = (f"{name} rests on {n_texts} {what}(s) ({MIN_TEXTS - n_texts} more needed); a verdict "
            f"needs {MIN_TEXTS}") if bound is not None and n_texts < MIN_TEXTS else ""
    return Measurement(
        name, statistics.fmean(values), bound, interval=clustered_mean_interval(values, texts_of, level),
        level=level, confident=confident and bound is not None, detail=detail,
        p_value=None if bound is None else t_p_value(text_means, bound.op, bound.value), thin=thin)
