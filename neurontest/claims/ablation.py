"""`ablation`: knocking the neuron out changes the model's next-token log-probs by a bound."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.claims.bounds import Bound
from neurontest.claims.causal import TargetOption, parse_target
from neurontest.claims.confidence import claim_confidence
from neurontest.claims.marked import mark_positions
from neurontest.claims.options import BoundText, ClaimOptions, Level, NeuronIds, Seed, Texts
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.engine.units.neuron import NeuronRef
from neurontest.measure.ablation import ablate, ablate_each
from neurontest.measure.controls import (
    check_controls,
    controls_needed,
    draw_controls,
    percentile,
    permutation_p_value,
    reachable,
)
from neurontest.measure.intervals import clustered_mean_interval, t_p_value

if TYPE_CHECKING:
    from neurontest.engine.units.protocol import UnitRef
    from neurontest.lab import Lab
    from neurontest.measure.ablation import AblationEffect
    from neurontest.measure.targets import Target

#: Texts below which an effect's verdict needs its interval wholly on one side of the bound.
MIN_TEXTS = 5


class ControlOptions(BaseModel):
    """`control:` of an ablation claim: the same edit on random units of the same kind and place
    (neurontest.measure.controls), and bounds on where the claimed unit falls among them."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

    units: Annotated[int, Field(ge=1, le=4096)] = Field(
        32, description="how many random units of the same kind and layer get the same edit")
    seed: Seed = Field(0, description="which random units")
    percentile: BoundText | None = Field(
        None, description="bound on the share of controls the unit's effect is more extreme than")
    p_value: BoundText | None = Field(
        None, description="bound on the permutation p-value (1 + #controls at least as extreme) / (1 + n)")


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
        control: ControlOptions | None = Field(
            None, description="the same edit on random units of the same kind and layer: a null "
                              "distribution, the unit's percentile in it and a permutation p-value")

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
            if self.control is not None and (self.effect or "").strip().startswith("=="):
                raise ValueError("`control:` ranks the effect in the direction of its bound; an "
                                 "`effect: '== ...'` bound has none: use <, <=, > or >=")
            return self

    @property
    def ablated(self) -> list[UnitRef]:
        return [self.neuron] + [UnitRef.parse(r) for r in self.settings.also_ablate or []]

    def neurons_to_mine(self) -> list[UnitRef]:
        return self.ablated if self.settings.mode == "mean" else []

    def check(self, lab: Lab) -> None:
        for ref in self.ablated:
            lab.check_unit(ref)
        if self.settings.control is not None:
            self._check_controls(lab)
        parse_target(self.settings.target).check(lab.tokenizer)
        for text in self.settings.texts:
            marked = self.checked_text(lab, text, "texts")
            if parse_target(self.settings.target).is_next and marked.positions and max(marked.positions) == len(marked.ids) - 1:
                raise ValueError(f"{text!r}: the marked token is the last one, so it has no true "
                                 f"next token; set `target:` or mark an earlier token")

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        mode = self.settings.mode
        goal = parse_target(self.settings.target)
        tokens = [t for t in (goal.token, goal.answer, goal.foil) if t is not None]
        marked = [mark_positions(lab.tokenizer, t) for t in self.settings.texts]
        texts = [m.text for m in marked]
        control = self.settings.control
        if control is None:
            means = {n: float(lab.scorable(n).mean()) for n in self.ablated} if mode == "mean" else None
            effects = ablate(lab.model, self.ablated, texts, mode=mode, means=means,
                             steer_by=self.settings.steer_by, targets=tokens)
            controls: list[list[Any]] = []
        else:
            controls = draw_controls(lab.model, self.ablated, control.units, control.seed)
            # The unit's own edit goes through the same batched pass as its controls, so rounding
            # is the same for all and a unit with no effect ties with controls with none.
            every = [self._edit_values(lab, self.ablated)] + [self._edit_values(lab, c) for c in controls]
            all_effects = ablate_each(lab.model, every, texts, add=mode == "steer", targets=tokens)
            effects, control_effects = all_effects[0], all_effects[1:]
        diffs, kls, rows, texts_of, kl_texts = [], [], [], [], []
        for text_index, (m, effect) in enumerate(zip(marked, effects)):
            series = self._series(effect)
            positions = self._positions(m, effect)
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
        invalid = ""
        if control is not None and diffs:
            control_measurements, table, invalid = self._against_controls(
                marked, effects, controls, control_effects)
            measurements += control_measurements
            summary += f", against {len(controls)} random control(s)"
            evidence.append(Evidence(f"the same edit on {len(controls)} random control unit(s)",
                                     table=table, value_label=self._control_statistic()))
        thin = [m.thin for m in measurements if m.inconclusive]
        inconclusive = ("inconclusive: " + "; ".join(thin) + ", and its interval straddles the "
                        "bound: add texts") if thin else ""
        return ClaimResult(self.kind, self.neuron, measurements, summary, evidence, failures,
                           inconclusive=inconclusive, invalid=invalid)

    def _check_controls(self, lab: Lab) -> None:
        """The controls can be drawn: their layer holds enough other units (ValueError with the
        fix). A run whose model is not loaded checks neurons from its recorded width."""
        from types import SimpleNamespace

        n = self.settings.control.units
        if lab.model_loaded:
            check_controls(lab.model, self.ablated, n)
        elif all(isinstance(u, NeuronRef) for u in self.ablated):
            cfg = SimpleNamespace(d_mlp=int(lab.describe()["model"]["d_mlp"]))
            check_controls(SimpleNamespace(cfg=cfg), self.ablated, n)
        # (other units without the model: drawing them at run time names the same fix)

    def _series(self, effect: Any) -> list[float]:
        return _series(effect, parse_target(self.settings.target))

    def _positions(self, marked: Any, effect: Any) -> list[int]:
        """The measured positions of one text: its marks, or every position with a value."""
        series = self._series(effect)
        positions = list(marked.positions) or list(range(len(series)))
        return [p for p in positions if p < len(series)]

    def _edit_values(self, lab: Lab, units: list[Any]) -> dict[Any, float]:
        """What each unit is set to (zero, its corpus mean) or, steering, shifted by."""
        mode = self.settings.mode
        if mode == "steer":
            return {u: float(self.settings.steer_by) for u in units}
        if mode == "mean":
            return {u: float(lab.scorable(u).mean()) for u in units}
        return {u: 0.0 for u in units}

    def _control_statistic(self) -> str:
        """What controls are ranked by: the bounded effect, else the KL."""
        return "mean log-prob change" if self.settings.effect is not None else "mean KL"

    def _statistic(self, marked: list[Any], effects: list[Any]) -> float:
        """The number ranked against the controls: the claim's mean effect (or mean KL when only
        `kl:` is bounded) over the measured positions, as the claim's own measurement takes it."""
        values: list[float] = []
        for m, effect in zip(marked, effects):
            positions = self._positions(m, effect)
            if self.settings.effect is not None:
                series = self._series(effect)
                values += [series[p] for p in positions]
            else:
                values += [effect.kl[p] for p in positions if p < len(effect.kl)]
        return statistics.fmean(values) if values else 0.0

    def _against_controls(self, marked: list[Any], effects: list[Any], controls: list[list[Any]],
                          control_effects: list[list[Any]]
                          ) -> tuple[list[Measurement], list[tuple[str, float]], str]:
        """The control distribution, the unit's percentile in it and the permutation p-value,
        bounded as `control:` says; and why the bounds cannot be met with this many controls."""
        settings = self.settings.control
        key = "effect" if self.settings.effect is not None else "kl"
        bound = self.bound(key)
        # "Extreme" is the bound's side: below an upper bound, above a lower one (a bare KL:
        # larger).
        lower = bound is not None and bound.op in ("<", "<=")
        observed = self._statistic(marked, effects)
        values = [self._statistic(marked, e) for e in control_effects]
        p = permutation_p_value(observed, values, lower)
        share = percentile(observed, values, lower)
        n = len(values)
        side = "lower" if lower else "higher"
        p_bound = None if settings.p_value is None else Bound.parse(settings.p_value)
        q_bound = None if settings.percentile is None else Bound.parse(settings.percentile)
        measurements = [
            Measurement("percentile", share, q_bound,
                        p_value=p if q_bound is not None and q_bound.op in (">", ">=") else None,
                        detail=f"share of {n} random control(s) whose {key} is less extreme "
                               f"({side} is extreme) than this unit's {observed:.4g}"),
            Measurement("p_value", p, p_bound,
                        p_value=p if p_bound is not None and p_bound.op in ("<", "<=") else None,
                        detail=f"exact permutation p-value (1 + #controls at least as extreme) / "
                               f"(1 + {n})"),
            Measurement("control_min", min(values)),
            Measurement("control_median", statistics.median(values)),
            Measurement("control_max", max(values)),
        ]
        invalid = ""
        # 1/(n+1) is the smallest p-value n controls give: a p-value bound below it can never
        # be met, and beating every control is only as rare as 1/(n+1), so a percentile bound
        # `>= q` is held to the same floor with alpha = 1 - q.
        for name, b, alpha, strict in (
                ("p_value", p_bound, None if p_bound is None else p_bound.value,
                 p_bound is not None and p_bound.op == "<"),
                ("percentile", q_bound, None if q_bound is None else 1 - q_bound.value,
                 q_bound is not None and q_bound.op == ">")):
            special = b is not None and b.op in (("<", "<=") if name == "p_value" else (">", ">="))
            if not special or alpha is None or reachable(alpha, n, strict):
                continue
            needed = controls_needed(alpha, strict)
            fix = (f"set `control.units:` to at least {needed}" if needed is not None
                   else "loosen the bound")
            invalid = (f"`control.{name}: '{b}'` cannot be met by {n} control(s): beating every "
                       f"one is as likely as 1/{n + 1} = {1 / (n + 1):.3g} for a unit like them; {fix}")
            break
        table = [(f"{', '.join(u.short_id for u in self.ablated)} (claimed)", observed)]
        table += [(", ".join(u.short_id for u in units), v) for units, v in zip(controls, values)]
        return measurements, table, invalid

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
