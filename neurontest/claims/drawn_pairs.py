"""Counterfactual pairs drawn from `templates:` for the causal kinds (`patching`, `mediation`):
drawing them, skipping those that cannot be a pair, and the counterexample a failing claim names.

1. Drawing: Hypothesis draws `draws` pairs from the templates and slots, seeded by `seed:`
   (default 0), so the same file gives the same pairs on every run; repeated pairs are dropped.
2. Checking: each pair is tokenized; one whose clean and corrupt texts are of different token
   lengths (or whose mark splits, or lands on different tokens) is skipped and counted. When
   skipping leaves fewer than 5 pairs (or none), the claim is a one-line error naming the slot
   values that tokenize differently ("{month} 'September' is 2 tokens, 'Friday' is 1").
3. The claim's statistic is over the pairs left, exactly as over `pairs:`.
4. When the claim fails, Hypothesis replays the same draws to the first pair whose own value
   breaks the failing bound (e.g. its own `recovered` below 0.9) and shrinks it towards the first
   template and the first value of each slot: the simplest pair that contradicts the claim, not
   the worst. The worst drawn pair is named beside it. Shrinking spends at most `SHRINK_BUDGET`
   new pairs (one patch of one pair each); then the last pair that still broke the bound is named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from neurontest.claims.ablation import MIN_TEXTS
from neurontest.claims.base import Evidence
from neurontest.claims.causal import checked_pairs, paired
from neurontest.claims.marked import strip_marks
from neurontest.claims.options import claim_phrase
from neurontest.claims.templates import FilledPair, slot_token_counts

if TYPE_CHECKING:
    from neurontest.claims.base import Claim, ClaimResult
    from neurontest.claims.bounds import Bound
    from neurontest.claims.marked import MarkedText
    from neurontest.lab import Lab
    from neurontest.measure.targets import Target

    CheckedPair = tuple[MarkedText, MarkedText, tuple[int, ...]]

#: new pairs run while shrinking a counterexample (each: one patch, three or four forwards)
SHRINK_BUDGET = 100


@dataclass
class PairOutcome:
    """One pair's own values of the claim's metrics (None where undefined) and its target on
    each run, as (label, value) rows."""

    values: dict[str, float | None]
    table: list[tuple[str, float]]
    label: str = "target"


@dataclass(frozen=True)
class Skip:
    """Why a drawn pair cannot be used (one line); `lengths`: its texts' token lengths differ."""

    reason: str
    lengths: bool = False


@dataclass
class DrawnPairs:
    """A templated claim's pairs: those drawn (distinct, in draw order), those used, checked,
    and those skipped with the reason."""

    drawn: list[FilledPair]
    used: list[FilledPair] = field(default_factory=list)
    checked: list[CheckedPair] = field(default_factory=list)
    skipped: list[tuple[FilledPair, Skip]] = field(default_factory=list)


def claim_pairs(claim: Claim, lab: Lab, target: Target) -> list[CheckedPair]:
    """The claim's counterfactual pairs, checked: its `pairs:` (ValueError at the first bad one)
    or those drawn from its `templates:` (bad ones skipped; ValueError if too few are left)."""
    if claim.settings.templates is None:
        return checked_pairs(claim, lab, list(claim.settings.pairs), target)
    return drawn_pairs(claim, lab, target).checked


def draws_of(claim: Claim) -> list[FilledPair]:
    """The distinct pairs Hypothesis draws from the claim's templates (drawn once per claim)."""
    if "drawn pairs" not in claim._parsed:
        # Hypothesis is imported here, on the first draw, never when options are validated.
        from neurontest.claims.draws import seeded_draws, template_pairs

        options = claim.settings
        unique: dict[tuple[str, str], FilledPair] = {}
        for pair in seeded_draws(template_pairs(options.templates, options.slots), options.draws,
                                 options.seed):
            unique.setdefault(pair.texts, pair)
        claim._parsed["drawn pairs"] = list(unique.values())
    return claim._parsed["drawn pairs"]


def check_drawn(claim: Claim, lab: Lab, pair: FilledPair, target: Target) -> CheckedPair | Skip:
    """The pair tokenized and checked, or why it cannot be used (lengths first: a slot value
    of more tokens also splits a mark around it, and the lengths are what to fix)."""
    lengths = [len(lab.tokenizer(strip_marks(text)[0], add_special_tokens=False)["input_ids"])
               for text in pair.texts]
    if lengths[0] != lengths[1]:
        return Skip(length_reason(lab.tokenizer, pair, *lengths), lengths=True)
    try:
        clean = claim.checked_text(lab, pair.clean, "templates")
        corrupt = claim.checked_text(lab, pair.corrupt, "templates")
    except ValueError as exc:
        return Skip(str(exc))
    try:
        return paired(clean, corrupt, target, f"{pair.clean!r} / {pair.corrupt!r}")
    except ValueError as exc:
        return Skip(str(exc))


def drawn_pairs(claim: Claim, lab: Lab, target: Target) -> DrawnPairs:
    """The claim's drawn pairs checked against the lab's tokenizer; ValueError (one line) when
    skipping leaves none, or fewer than `MIN_TEXTS`."""
    out = DrawnPairs(draws_of(claim))
    for pair in out.drawn:
        checked = check_drawn(claim, lab, pair, target)
        if isinstance(checked, Skip):
            out.skipped.append((pair, checked))
        else:
            out.used.append(pair)
            out.checked.append(checked)
    if not out.used or (out.skipped and len(out.used) < MIN_TEXTS):
        raise ValueError(f"`templates:` of {claim_phrase(claim.kind)}: {len(out.skipped)} of the "
                         f"{len(out.drawn)} pairs drawn cannot be used, leaving {len(out.used)} "
                         f"(a verdict needs {MIN_TEXTS}): {skip_reasons(out.skipped, fix=True)}")
    return out


def length_reason(tokenizer: Any, pair: FilledPair, clean: int, corrupt: int) -> str:
    """Which slot values tokenize to different lengths in this pair, or the texts' lengths
    (`clean`, `corrupt` tokens)."""
    phrases = [f"{{{name}}} {c!r} is {nc} token{'s' * (nc != 1)}, {x!r} is {nx}"
               for name, c, nc, x, nx in slot_token_counts(tokenizer, pair) if nc != nx]
    if phrases:
        return "; ".join(phrases)
    return f"{pair.clean!r} is {clean} tokens, {pair.corrupt!r} is {corrupt}"


def skip_reasons(skipped: list[tuple[FilledPair, Skip]], *, fix: bool = False, most: int = 3) -> str:
    """The distinct reasons pairs were skipped, in one line: length ones first (up to `most`)."""
    lengths = list(dict.fromkeys(s.reason for _, s in skipped if s.lengths))
    others = list(dict.fromkeys(s.reason for _, s in skipped if not s.lengths))
    parts = []
    if lengths:
        parts.append("clean and corrupt texts must tokenize to the same length, but "
                     + "; ".join(lengths[:most]) + (f" (and {len(lengths) - most} more)"
                                                    if len(lengths) > most else ""))
        if fix:
            parts[-1] += (": give `clean:` and `corrupt:` values of the same token length at "
                          "the same index")
    if others:
        parts.append(others[0] + (f" (and {len(others) - 1} other reason(s))" if len(others) > 1 else ""))
    return "; ".join(parts)


# -- a failing claim's counterexample -----------------------------------------------------------
def with_draws(claim: Claim, lab: Lab, result: ClaimResult, target: Target) -> ClaimResult:
    """A templated claim's result with how its pairs were drawn, and, when it fails, the
    simplest pair that contradicts the failing bound (shrunk by Hypothesis) and the worst drawn
    pair, in the summary and as the first evidence. Other claims' results are returned as they
    are. The claim provides `pair_outcomes(lab, checked_pairs) -> list[PairOutcome]`."""
    options = claim.settings
    if getattr(options, "templates", None) is None:
        return result
    drawn = drawn_pairs(claim, lab, target)
    result.summary += (f"; {len(drawn.used)} pair(s) drawn by Hypothesis from "
                       f"{len(options.templates)} template(s) (seed {options.seed}, "
                       f"{options.draws} draws, {len(drawn.drawn)} distinct)")
    if drawn.skipped:
        result.summary += f", {len(drawn.skipped)} skipped: {skip_reasons(drawn.skipped)}"
    if result.verdict != "failed":
        return result
    outcomes = claim.pair_outcomes(lab, drawn.checked)  # type: ignore[attr-defined]
    failing = next((m for m in result.measurements if m.bound is not None and not m.passed
                    and m.name in outcomes[0].values), None) if outcomes else None
    if failing is None:
        return result
    name, bound = failing.name, failing.bound
    scored = [(p, o) for p, o in zip(drawn.used, outcomes) if o.values[name] is not None]
    if not scored:
        return result
    worst, worst_outcome = max(scored, key=lambda po: _wrongness(po[1].values[name], bound))
    found, note = _shrunk(claim, lab, target, drawn, outcomes, name, bound)
    rows: list[tuple[str, float]] = []
    shown = []
    if found is None:
        result.summary += (f"; no drawn pair has its own {name} outside {bound} (the claim fails "
                           "on its interval)")
    else:
        pair, outcome = found
        result.summary += (f"; minimal counterexample (shrunk by Hypothesis{note}): "
                           f"{pair.clean!r} / {pair.corrupt!r} [{pair.describe()}] "
                           f"{name} {_number(outcome.values[name])}")
        rows += [(f"shrunk {label}", value) for label, value in _labelled(pair, outcome)]
        shown.append("the simplest pair Hypothesis shrank to")
    if found is None or found[0].texts != worst.texts:
        result.summary += (f"; worst drawn pair: {worst.clean!r} / {worst.corrupt!r} "
                           f"[{worst.describe()}] {name} {_number(worst_outcome.values[name])}")
        rows += [(f"worst {label}", value) for label, value in _labelled(worst, worst_outcome)]
        shown.append("the worst pair drawn")
    else:
        result.summary += " (also the worst drawn pair)"
    title = (f"counterexample ({name} expected {bound}): {' and '.join(shown)}; "
             f"{worst_outcome.label} per run")
    result.evidence.insert(0, Evidence(title, table=rows, value_label=worst_outcome.label))
    return result


def _number(value: float | None) -> str:
    return f"{(value or 0.0) + 0.0:.3g}"  # + 0.0: no "-0"


def _labelled(pair: FilledPair, outcome: PairOutcome) -> list[tuple[str, float]]:
    shown = {"clean": pair.clean, "corrupt": pair.corrupt}
    return [(f"{label}: {shown[label]}" if label in shown else label, value)
            for label, value in outcome.table]


def _wrongness(value: float | None, bound: Bound) -> float:
    """How far a pair's own value lies on the wrong side of the bound (larger: worse)."""
    if value is None:
        return float("-inf")
    if bound.op in (">=", ">"):
        return bound.value - value
    if bound.op in ("<=", "<"):
        return value - bound.value
    return abs(value - bound.value)


def _shrunk(claim: Claim, lab: Lab, target: Target, drawn: DrawnPairs, outcomes: list[PairOutcome],
            name: str, bound: Bound) -> tuple[tuple[FilledPair, PairOutcome] | None, str]:
    """The simplest pair whose own `name` breaks `bound`, shrunk by Hypothesis from the same
    draws, with a note when shrinking stopped early; (None, "") when no drawn pair breaks it."""
    from neurontest.claims.draws import BudgetSpent, seeded_shrink, template_pairs

    known: dict[tuple[str, str], PairOutcome | None] = {
        p.texts: o for p, o in zip(drawn.used, outcomes)}
    known.update({p.texts: None for p, _ in drawn.skipped})
    breaking = [p for p, o in zip(drawn.used, outcomes)
                if o.values[name] is not None and not bound.holds(o.values[name])]  # type: ignore[arg-type]
    if not breaking:
        return None, ""
    spent, last = [0], []

    def outcome_of(pair: FilledPair) -> PairOutcome | None:
        if pair.texts not in known:
            if spent[0] >= SHRINK_BUDGET:
                raise BudgetSpent
            spent[0] += 1
            checked = check_drawn(claim, lab, pair, target)
            known[pair.texts] = (None if isinstance(checked, Skip)
                                 else claim.pair_outcomes(lab, [checked])[0])  # type: ignore[attr-defined]
        return known[pair.texts]

    def breaks(pair: FilledPair) -> bool:
        outcome = outcome_of(pair)
        value = None if outcome is None else outcome.values[name]
        if value is None or bound.holds(value):
            return False
        last[:] = [pair]
        return True

    options = claim.settings
    found = seeded_shrink(template_pairs(options.templates, options.slots), breaks, options.draws,
                          options.seed)
    note = ""
    if found is None and last:
        found, note = last[0], f", stopped after {SHRINK_BUDGET} new pairs"
    if found is None:
        found, note = breaking[0], ", not shrunk: Hypothesis did not meet the failing pair again"
    return (found, known[found.texts]), note  # type: ignore[return-value]
