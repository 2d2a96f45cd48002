"""`patching`: copying the unit's values from one run of a counterfactual pair into the other
moves the target by a bound."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from neurontest.claims.ablation import mean_over_texts
from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement
from neurontest.claims.causal import (
    TARGET_HELP,
    UNITS_HELP,
    Pairs,
    TargetOption,
    UnitIds,
    parse_target,
    parse_unit_ids,
    runs_evidence,
)
from neurontest.claims.confidence import claim_confidence
from neurontest.claims.drawn_pairs import PairOutcome, claim_pairs, with_draws
from neurontest.claims.options import BoundText, ClaimOptions, Level, Seed
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.claims.templates import (
    DEFAULT_DRAWS,
    DRAWS_HELP,
    SEED_HELP,
    SLOTS_HELP,
    TEMPLATES_HELP,
    Draws,
    PairTemplates,
    Slots,
    check_pair_source,
)
from neurontest.measure.patching import patch

if TYPE_CHECKING:
    from neurontest.claims.marked import MarkedText
    from neurontest.lab import Lab
    from neurontest.measure.targets import Target

#: |clean - corrupt| below which a pair's `recovered` is not defined (nats or logits)
MIN_DIFFERENCE = 0.01


class PatchingClaim(Claim):
    """Activation patching over counterfactual `pairs` (same token length), or pairs Hypothesis
    draws from `templates:` and `slots:` (`draws:` of them, from `seed:`): the unit (plus
    `units:`) takes, at the [[marked]] positions (all if unmarked), its value from the other run
    of the pair: clean values into the corrupt run (`direction: denoising`, the default) or
    corrupt values into the clean run (`noising`). `target` is read at each pair's final
    position. `recovered` is the share of the clean - corrupt difference the patch moves
    ((patched - corrupt)/(clean - corrupt) denoising, (clean - patched)/(clean - corrupt)
    noising), left undefined on pairs whose difference is below `min_difference`; `effect` is
    patched - unpatched. Both are means over pairs with a t interval and a one-sided t-test
    p-value; fewer than 5 pairs decide only when the interval lies wholly on one side of the
    bound. A head is patched as its whole z; an SAE latent through its decoder row (the SAE's
    error term stays)."""

    kind = "patching"

    class Options(ClaimOptions):
        pairs: Pairs | None = Field(None, description="counterfactual {clean:, corrupt:} texts of "
                                                      "one length; [[marks]]: the positions patched")
        templates: PairTemplates | None = Field(None, description=TEMPLATES_HELP)
        slots: Slots | None = Field(None, description=SLOTS_HELP)
        draws: Draws = Field(DEFAULT_DRAWS, description=DRAWS_HELP)
        seed: Seed = Field(0, description=SEED_HELP)
        target: TargetOption | None = Field(None, description=TARGET_HELP)
        direction: Literal["denoising", "noising"] = Field(
            "denoising", description="denoising: clean values into the corrupt run; noising: the reverse")
        units: UnitIds | None = Field(None, description="more units patched together: " + UNITS_HELP)
        recovered: BoundText | None = Field(None, description="bound on the mean share of the "
                                                              "clean - corrupt difference recovered")
        effect: BoundText | None = Field(None, description="bound on the mean patched - unpatched change")
        min_difference: float = Field(MIN_DIFFERENCE, gt=0, le=1000, description=(
            "pairs whose |clean - corrupt| target is below this are left out of `recovered`"))
        confidence: Level | None = Field(None, description="the bounds must hold for the interval")

        @model_validator(mode="after")
        def _needs_a_bound(self) -> PatchingClaim.Options:
            check_pair_source(self, "patching")
            if self.recovered is None and self.effect is None:
                raise ValueError("a 'patching' claim needs `recovered:` (e.g. '>= 0.8') and/or `effect:`")
            n = self.draws if self.pairs is None else len(self.pairs)
            if self.confidence is not None and n < 3:
                raise ValueError(f"`confidence:` needs at least 3 pairs for an interval over pairs "
                                 f"(this claim {'has' if self.pairs else 'draws'} {n}); add pairs "
                                 "or drop `confidence:`")
            return self

    @property
    def patched_units(self) -> list[Any]:
        extra = parse_unit_ids(self.settings.units, self.subject.base_dir)
        return list(dict.fromkeys([self.neuron, *extra]))

    @property
    def target(self) -> Target:
        return parse_target(self.settings.target)

    def check(self, lab: Lab) -> None:
        for unit in self.patched_units:
            lab.check_unit(unit)
        self.target.check(lab.tokenizer)
        claim_pairs(self, lab, self.target)

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        target, direction = self.target, self.settings.direction
        pairs = claim_pairs(self, lab, target)
        runs = self._patch(lab, pairs)
        denoising = direction == "denoising"
        per_pair = [self._recovered_and_effect(r) for r in runs]
        effects = [effect for _, effect in per_pair]
        undefined = [i for i, (share, _) in enumerate(per_pair) if share is None]
        shares = [share for share, _ in per_pair if share is not None]
        level, confident = claim_confidence(self.settings)
        measurements: list[Measurement] = []
        if shares:
            measurements.append(mean_over_texts(
                "recovered", self.bound("recovered"), shares, list(range(len(shares))), level,
                confident, f"mean share of clean - corrupt recovered over {len(shares)} pair(s)",
                what="pair"))
            measurements += [Measurement("recovered_min", min(shares)),
                             Measurement("recovered_median", statistics.median(shares))]
        measurements.append(mean_over_texts(
            "effect", self.bound("effect"), effects, list(range(len(effects))), level, confident,
            f"mean patched - unpatched change over {len(effects)} pair(s)", what="pair"))
        names = ", ".join(u.short_id for u in self.patched_units)
        where = "the position before the last" if target.is_next else "the final position"
        summary = f"{direction} patch of {names} over {len(runs)} pair(s): {target.label} at {where}"
        if undefined:
            summary += (f"; {len(undefined)} pair(s) left out of `recovered` (|clean - corrupt| < "
                        f"{self.settings.min_difference:g}): {', '.join(str(i + 1) for i in undefined)}")
        table, heatmaps = [], []
        into = "clean into corrupt" if denoising else "corrupt into clean"
        for i, (run, (c, x, marks)) in enumerate(zip(runs, pairs), 1):
            table += [(f"pair {i} clean: {c.text}", run.clean), (f"pair {i} corrupt: {x.text}", run.corrupt),
                      (f"pair {i} patched", run.patched)]
            # The patched run is the receiving text's: the corrupt one denoising, else the clean.
            receiver = ((run.corrupt_tokens, run.corrupt_pieces) if denoising
                        else (run.clean_tokens, run.clean_pieces))
            heatmaps.append(runs_evidence(
                f"pair {i}: {target.label} at each position (labels: at {where}; "
                + ("outlined: the patched positions)" if marks else "every position patched)"),
                target, [(f"pair {i} clean", run.clean_tokens, run.clean_series, run.clean, run.clean_pieces),
                         (f"pair {i} corrupt", run.corrupt_tokens, run.corrupt_series, run.corrupt,
                          run.corrupt_pieces),
                         (f"pair {i} patched ({into})", receiver[0], run.patched_series, run.patched,
                          receiver[1])],
                list(marks)))
        evidence = [Evidence(f"{target.label} per pair (clean, corrupt, patched)", table=table,
                             value_label=target.label), *heatmaps]
        thin = [m.thin for m in measurements if m.inconclusive]
        inconclusive = ("inconclusive: " + "; ".join(thin) + ", and its interval straddles the "
                        "bound: add pairs") if thin else ""
        if not shares and self.settings.recovered is not None and not inconclusive:
            inconclusive = (f"inconclusive: no pair has |clean - corrupt| >= "
                            f"{self.settings.min_difference:g} on the target, so `recovered` is "
                            "not defined: choose pairs whose texts differ in the behaviour")
        return with_draws(self, lab, ClaimResult(self.kind, self.neuron, measurements, summary,
                                                 evidence, inconclusive=inconclusive), target)

    def pair_outcomes(self, lab: Lab, pairs: list[tuple[MarkedText, MarkedText, tuple[int, ...]]]
                      ) -> list[PairOutcome]:
        """Each pair's own `recovered` (None where undefined) and `effect`, as `run` measures
        them: what a templated claim's counterexample is judged and shrunk by."""
        out = []
        for r in self._patch(lab, pairs):
            share, effect = self._recovered_and_effect(r)
            out.append(PairOutcome({"recovered": share, "effect": effect},
                                   [("clean", r.clean), ("corrupt", r.corrupt), ("patched", r.patched)],
                                   self.target.label))
        return out

    def _patch(self, lab: Lab, pairs: list[tuple[MarkedText, MarkedText, tuple[int, ...]]]) -> list[Any]:
        """The patched units' runs over `pairs`, batched (`measure.patching.patch`)."""
        return patch(lab.model, self.patched_units, [c.text for c, _, _ in pairs],
                     [x.text for _, x, _ in pairs], [list(p) for _, _, p in pairs], self.target,
                     direction=self.settings.direction)

    def _recovered_and_effect(self, run: Any) -> tuple[float | None, float]:
        """One pair's share of clean - corrupt that the patch moves (None where that difference
        is below `min_difference`, or not a number) and its patched - unpatched change."""
        denoising = self.settings.direction == "denoising"
        diff = run.clean - run.corrupt
        moved = (run.patched - run.corrupt) if denoising else (run.clean - run.patched)
        share = moved / diff if abs(diff) >= self.settings.min_difference else None
        return share, run.patched - (run.corrupt if denoising else run.clean)
