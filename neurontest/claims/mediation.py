"""`mediation`: the unit's effect on a target goes through other units (`through:`)."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Annotated, Any, Literal

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
    undefined_pairs,
)
from neurontest.claims.confidence import claim_confidence
from neurontest.claims.drawn_pairs import PairOutcome, claim_pairs, with_draws
from neurontest.claims.marked import mark_positions
from neurontest.claims.options import BoundText, ClaimOptions, Level, Seed, Texts
from neurontest.claims.patching import MIN_DIFFERENCE
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
from neurontest.measure.mediation import mediate
from neurontest.measure.patching import read_position
from neurontest.measure.targets import Target

if TYPE_CHECKING:
    from neurontest.claims.marked import MarkedText
    from neurontest.lab import Lab


class MediationClaim(Claim):
    """Editing the unit (plus `units:`) moves the target, and a share of that total effect goes
    through the `through:` units: the same edit with them held at their values in the unedited
    run leaves the direct effect, and `mediated_share` = 1 - direct / total. On `texts:` the
    edit is an ablation as in `ablation` (`mode:` zero, mean or steer, at every position) and the
    target is read at the [[marked]] positions (all if unmarked); on `pairs:` (or pairs drawn
    from `templates:`) the edit is a patch as in `patching` (`direction:`, at the marked
    positions) and the target is read at each pair's final position. Texts (pairs) whose total effect is below `min_difference`
    leave the share undefined and are left out; the share is a mean over texts with a t
    interval and a one-sided t-test p-value, and fewer than 5 decide only when the interval
    lies wholly on one side of the bound."""

    kind = "mediation"

    class Options(ClaimOptions):
        texts: Texts | None = Field(None, description="texts whose [[marked]] positions are measured")
        pairs: Pairs | None = Field(None, description="counterfactual pairs; the edit is a patch")
        templates: PairTemplates | None = Field(None, description=TEMPLATES_HELP + "; the edit is a patch")
        slots: Slots | None = Field(None, description=SLOTS_HELP)
        draws: Draws = Field(DEFAULT_DRAWS, description=DRAWS_HELP)
        seed: Seed = Field(0, description=SEED_HELP)
        target: TargetOption | None = Field(None, description=TARGET_HELP.replace(
            "; read at each pair's final position", ""))
        through: UnitIds = Field(description="the units said to carry the effect, held at their "
                                             "unedited values: " + UNITS_HELP)
        units: UnitIds | None = Field(None, description="more units edited together: " + UNITS_HELP)
        mode: Literal["zero", "mean", "steer"] = Field(
            "zero", description="with texts: zero or corpus-mean ablation, or steering by `steer_by`")
        steer_by: Annotated[float, Field(ge=-1000, le=1000)] | None = Field(
            None, description="with `mode: steer`: added to the unit's activation at every position")
        direction: Literal["denoising", "noising"] = Field(
            "denoising", description="with pairs: denoising patches clean values into the corrupt run")
        mediated_share: BoundText | None = Field(None, description="bound on the mean share of "
                                                                   "the total effect through `through`")
        total_effect: BoundText | None = Field(None, description="bound on the mean total effect")
        min_difference: float = Field(MIN_DIFFERENCE, gt=0, le=1000, description=(
            "texts whose |total effect| is below this are left out of `mediated_share`"))
        confidence: Level | None = Field(None, description="the bounds must hold for the interval")

        @model_validator(mode="after")
        def _consistent(self) -> MediationClaim.Options:
            check_pair_source(self, "mediation", texts=True)
            if self.mediated_share is None and self.total_effect is None:
                raise ValueError("a 'mediation' claim needs `mediated_share:` (e.g. '>= 0.8') "
                                 "and/or `total_effect:`")
            if (self.mode == "steer") != (self.steer_by is not None):
                raise ValueError("`mode: steer` and `steer_by:` go together (steer_by: how much to "
                                 "add to the unit's activation, e.g. 5.0)")
            if self.texts is None and self.mode != "zero":
                raise ValueError(f"`mode:` is for `texts:`; with `{'pairs' if self.pairs else 'templates'}:` "
                                 "the edit is a patch (`direction:`); drop `mode:`")
            n = len(self.texts or self.pairs or []) or self.draws
            if self.confidence is not None and n < 3:
                raise ValueError(f"`confidence:` needs at least 3 texts or pairs (this claim has "
                                 f"{n}); add some or drop `confidence:`")
            return self

    @property
    def edited(self) -> list[Any]:
        extra = parse_unit_ids(self.settings.units, self.subject.base_dir)
        return list(dict.fromkeys([self.neuron, *extra]))

    @property
    def held(self) -> list[Any]:
        return parse_unit_ids(self.settings.through, self.subject.base_dir)

    def neurons_to_mine(self) -> list[Any]:
        return self.edited if self.settings.mode == "mean" else []

    def check(self, lab: Lab) -> None:
        target = parse_target(self.settings.target)
        for unit in self.edited + self.held:
            lab.check_unit(unit)
        both = [u.short_id for u in set(self.edited) & set(self.held)]
        if both:
            raise ValueError(f"`through:` names {', '.join(sorted(both))}, which the claim edits; a "
                             "unit cannot carry its own edit: hold other units")
        target.check(lab.tokenizer)
        if self.settings.texts is None:
            claim_pairs(self, lab, target)
            return
        for text in self.settings.texts:
            marked = self.checked_text(lab, text, "texts")
            if target.is_next and marked.positions and max(marked.positions) == len(marked.ids) - 1:
                raise ValueError(f"{text!r}: the marked token is the last one, so it has no true "
                                 f"next token; set `target:` or mark an earlier token")

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        target = parse_target(self.settings.target)
        if self.settings.texts is None:
            pairs = claim_pairs(self, lab, target)
            denoising = self.settings.direction == "denoising"
            runs = self._mediate_pairs(lab, pairs, target)
            read = [[read_position(len(c.ids), target)] for c, _, _ in pairs]
            names = [(x if denoising else c).text for c, x, _ in pairs]  # what every run reads
            edit = f"{self.settings.direction} patch of"
            marks = [list(p) for *_, p in pairs]
            where = "the position before the last" if target.is_next else "the final position"
            notes = [f"labels: at {where}; " + ("outlined: the patched positions" if m
                                                 else "every position patched") for m in marks]
        else:
            marked = [mark_positions(lab.tokenizer, t) for t in self.settings.texts]
            mode = self.settings.mode
            if mode == "steer":
                values = {u: float(self.settings.steer_by) for u in self.edited}
            elif mode == "mean":
                values = {u: float(lab.scorable(u).mean()) for u in self.edited}
            else:
                values = {u: 0.0 for u in self.edited}
            runs = mediate(lab.model, self.edited, self.held, [m.text for m in marked], target,
                           values=values, add=mode == "steer")
            last = -1 if target.is_next else 0
            read = [list(m.positions) or list(range(len(m.ids) + last)) for m in marked]
            names = [m.text for m in marked]
            marks = [list(m.positions) for m in marked]
            every = "every position but the last" if target.is_next else "every position"
            notes = [f"labels: mean over {'the outlined positions' if m else every}" for m in marks]
            edit = f"steering by {self.settings.steer_by:+g}" if mode == "steer" else f"{mode}-ablating"
        totals, directs, table, heatmaps = [], [], [], []
        held_names = ", ".join(u.short_id for u in self.held)
        what = "text" if self.settings.texts is not None else "pair"
        for number, (run, at, name) in enumerate(zip(runs, read, names), 1):
            total = statistics.fmean(run.edited[p] - run.base[p] for p in at)
            direct = statistics.fmean(run.held[p] - run.base[p] for p in at)
            totals.append(total)
            directs.append(direct)
            read_off = [statistics.fmean(series[p] for p in at) for series in (run.base, run.edited, run.held)]
            table += [(f"{number} unedited: {name}", read_off[0]), (f"{number} edited", read_off[1]),
                      (f"{number} edited, {held_names} held", read_off[2])]
            # All three runs are of the edited text (with pairs, the receiving one).
            heatmaps.append(runs_evidence(
                f"{what} {number}: {target.label} at each position ({notes[number - 1]})", target,
                [(f"{number} {run_name}", run.str_tokens, series, value, run.pieces)
                 for run_name, series, value in zip(("unedited", "edited", f"edited, {held_names} held"),
                                                    (run.base, run.edited, run.held), read_off)],
                marks[number - 1]))
        undefined = undefined_pairs(totals, self.settings.min_difference)
        defined = [i for i in range(len(runs)) if i not in undefined]
        shares = [1.0 - directs[i] / totals[i] for i in defined]
        level, confident = claim_confidence(self.settings)
        measurements: list[Measurement] = []
        if shares:
            measurements.append(mean_over_texts(
                "mediated_share", self.bound("mediated_share"), shares, list(range(len(shares))),
                level, confident, f"mean 1 - direct/total over {len(shares)} {what}(s)", what=what))
        measurements.append(mean_over_texts(
            "total_effect", self.bound("total_effect"), totals, list(range(len(totals))), level,
            confident, f"mean edited - unedited change over {len(totals)} {what}(s)", what=what))
        measurements.append(Measurement("direct_effect", statistics.fmean(directs),
                                        detail="mean change with the `through` units held"))
        units = ", ".join(u.short_id for u in self.edited)
        summary = (f"{edit} {units}, {', '.join(u.short_id for u in self.held)} held: "
                   f"{target.label}")
        if undefined:
            summary += (f"; {len(undefined)} {what}(s) left out of `mediated_share` (|total effect| "
                        f"< {self.settings.min_difference:g}): {', '.join(str(i + 1) for i in undefined)}")
        evidence = [Evidence(f"{target.label}: unedited, edited, edited with the mediators held",
                             table=table, value_label=target.label), *heatmaps]
        thin = [m.thin for m in measurements if m.inconclusive]
        inconclusive = ("inconclusive: " + "; ".join(thin) + f", and its interval straddles the "
                        f"bound: add {what}s") if thin else ""
        if not shares and self.settings.mediated_share is not None and not inconclusive:
            inconclusive = (f"inconclusive: no {what} has |total effect| >= "
                            f"{self.settings.min_difference:g}, so `mediated_share` is not defined: "
                            "the edit must move the target first")
        return with_draws(self, lab, ClaimResult(self.kind, self.neuron, measurements, summary,
                                                 evidence, inconclusive=inconclusive), target)

    def pair_outcomes(self, lab: Lab, pairs: list[tuple[MarkedText, MarkedText, tuple[int, ...]]]
                      ) -> list[PairOutcome]:
        """Each pair's own `mediated_share` (None where undefined) and `total_effect`, as `run`
        measures them on pairs: what a templated claim's counterexample is judged and shrunk by."""
        target = parse_target(self.settings.target)
        denoising = self.settings.direction == "denoising"
        out = []
        for run, (c, x, _) in zip(self._mediate_pairs(lab, pairs, target), pairs):
            at = read_position(len(c.ids), target)
            total, direct = run.edited[at] - run.base[at], run.held[at] - run.base[at]
            share = 1.0 - direct / total if abs(total) >= self.settings.min_difference else None
            out.append(PairOutcome({"mediated_share": share, "total_effect": total},
                                   [(f"unedited: {x.text if denoising else c.text}", run.base[at]),
                                    ("edited", run.edited[at]),
                                    (f"edited, {', '.join(u.short_id for u in self.held)} held",
                                     run.held[at])], target.label))
        return out

    def _mediate_pairs(self, lab: Lab, pairs: list[tuple[MarkedText, MarkedText, tuple[int, ...]]],
                       target: Target) -> list[Any]:
        """The three runs of each pair, batched: the receiving text (the corrupt one denoising)
        patched from its donor, unedited, edited, and edited with the `through:` units held."""
        denoising = self.settings.direction == "denoising"
        clean, corrupt = [c.text for c, _, _ in pairs], [x.text for _, x, _ in pairs]
        return mediate(lab.model, self.edited, self.held, corrupt if denoising else clean, target,
                       donors=clean if denoising else corrupt, positions=[list(p) for *_, p in pairs],
                       labels=clean)
