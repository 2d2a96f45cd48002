"""What `invariant`, `necessary` and `sufficient` share: options, word pools, the run, the report.

Each subclass builds one Hypothesis strategy of perturbed texts and says whether the neuron
must fire at their trigger (`expect_fire`); `search.check_property` does the rest.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.claims.options import BoundText, ClaimOptions, Seed, Texts, Words
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from neurontest.claims.predicates import Predicate
    from neurontest.lab import Lab
    from neurontest.perturb.search import PropertyOutcome, Trial
    from neurontest.perturb.sources import Encoder
    from neurontest.perturb.strategies import WordPool
    from neurontest.perturb.text import TokenText

CONTEXT_KINDS = ("delete", "insert", "replace", "case", "spacing")
Perturbation = Literal["delete", "insert", "replace", "case", "spacing", "swap"]


class PropertyOptions(ClaimOptions):
    """Options every perturbation property claim takes."""

    examples: Annotated[int, Field(ge=1, le=10_000)] | None = Field(
        None, description="perturbed texts drawn (default: the run's --neurontest-examples)")
    seed: Seed | None = Field(None, description="fixed Hypothesis seed (default: random, or the ci "
                                                "profile's derived seed)")
    min_rate: BoundText | None = Field(None, description="share of perturbed texts that must agree "
                                                         "(default '>= 1.0')")
    pool: Words | None = Field(None, description="words for insert/replace edits (default: frequent "
                                                 "corpus words)")
    shrink_budget: Annotated[int, Field(ge=1, le=10_000)] = Field(
        200, description="most shrink steps for a counterexample")


class ContextEditOptions(PropertyOptions):
    """Options of the claims that edit [[marked]] texts (`invariant`, `necessary`)."""

    texts: Texts = Field(description="texts whose [[marked]] trigger is kept while edits are made")
    perturbations: Annotated[list[Perturbation], Field(min_length=1)] | None = Field(
        None, description="which edits: delete, insert, replace, case, spacing, swap")
    edits: Annotated[int, Field(ge=0, le=64)] = Field(3, description="most edits per text")


class PropertyClaim(Claim):
    """Base of the perturbation property claims (not registered itself)."""

    expect_fire: ClassVar[bool] = True
    rate_name: ClassVar[str] = "rate"
    verb: ClassVar[str] = "behave as claimed"
    needs_predicate = True
    uses_tau = True
    marked_texts_required: ClassVar[bool] = True

    def check(self, lab: Lab) -> None:
        super().check(lab)
        for text in getattr(self.settings, "texts", None) or []:
            self.checked_text(lab, text, "texts", require_marks=self.marked_texts_required)

    # -- pieces for subclasses -----------------------------------------------------------------
    def base_texts(self, encoder: Encoder) -> list[TokenText]:
        """The `texts:` cut into model tokens, shortest first (so shrinking prefers them)."""
        texts = [encoder.token_text(t) for t in getattr(self.settings, "texts", None) or []]
        return sorted(texts, key=lambda t: len(t.tokens))

    def pool(self, lab: Lab, predicate: Predicate) -> WordPool:
        """`pool:` words, else the corpus's most frequent non-member tokens."""
        from neurontest.perturb.sources import corpus_words
        from neurontest.perturb.strategies import WordPool

        words = self.settings.pool or corpus_words(lab, predicate).words
        name = "pool" if "pool" in self.config else "corpus words"
        return WordPool(name, tuple(_spaced(str(w)) for w in words))

    def context_edits(self, lab: Lab, predicate: Predicate,
                      default: tuple[str, ...] = CONTEXT_KINDS) -> SearchStrategy[Any]:
        from neurontest.perturb.strategies import context_edits

        kinds = [k for k in self.settings.perturbations or default if k != "swap"]
        needs_words = {"insert", "replace"} & set(kinds)
        return context_edits(self.pool(lab, predicate) if needs_words else None, kinds or ["delete"])

    def strategy(self, lab: Lab, encoder: Encoder, predicate: Predicate) -> SearchStrategy[TokenText]:
        raise NotImplementedError

    # -- running -------------------------------------------------------------------------------
    def deterministic(self, settings: RunSettings) -> bool:
        # Random examples unless seeded; the `ci` profile derives a seed from the claim itself.
        return self.settings.seed is not None or settings.derandomize

    def run_settings(self, settings: RunSettings) -> dict[str, Any]:
        return {"profile": settings.hypothesis_profile, "max_examples": settings.max_examples}

    def identity(self, lab: Lab) -> str:
        config = {k: v for k, v in self.config.items() if k != "xfail"}
        return json.dumps([self.kind, self.neuron.short_id, lab.model_key, config],
                          sort_keys=True, default=str)

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        from neurontest.perturb.search import check_property
        from neurontest.perturb.sources import Encoder

        predicate = self.predicate
        tau = lab.tau(self.neuron, self.threshold())
        encoder = Encoder(lab.tokenizer)
        outcome = check_property(
            lab, self.neuron, predicate, self.strategy(lab, encoder, predicate), tau=tau,
            expect_fire=self.expect_fire, identity=self.identity(lab), encoder=encoder,
            examples=self.settings.examples, seed=self.settings.seed,
            shrink_budget=self.settings.shrink_budget, config=settings,
        )
        return self.result(outcome, tau)

    def result(self, outcome: PropertyOutcome, tau: float) -> ClaimResult:
        side = ">" if self.expect_fire else "<="
        measurements = [
            Measurement(self.rate_name, outcome.rate, self.bound("min_rate", ">= 1.0")),
            Measurement("examples", outcome.tried),
            Measurement("discarded", outcome.discarded),
        ]
        summary = (f"{len(outcome.good)}/{outcome.tried} perturbed texts {self.verb} "
                   f"(activation at the trigger {side} tau={tau:.3g}; seed {outcome.seed}"
                   f"{', ' + outcome.notes[0] if outcome.notes else ''})")
        extra = []
        if outcome.tried == 0:
            extra.append(f"none of the drawn texts was usable ({outcome.discarded} discarded: the "
                         "trigger split into several tokens, or the predicate did not fit)")
        evidence = []
        found = outcome.counterexample
        if found is not None:
            how = "replayed from the example database" if outcome.replayed else "shrunk"
            summary += (f"; minimal counterexample ({how}): {found.shown!r} "
                        f"[{'; '.join(found.text.edits) or 'no edit'}] activation "
                        f"{found.activation:.3g}")
            evidence.append(Evidence(f"minimal counterexample ({how} by Hypothesis)",
                                     [_row(found, tau, "COUNTEREXAMPLE")]))
        others = [t for t in outcome.broken if found is None or t.ids != found.ids][:5]
        if others:
            evidence.append(Evidence("other perturbed texts that break the claim (not shrunk)",
                                     [_row(t, tau, "breaks") for t in others]))
        if outcome.good:
            evidence.append(Evidence("perturbed texts that agree with the claim",
                                     [_row(t, tau, "agrees") for t in outcome.good[:5]]))
        return ClaimResult(self.kind, self.neuron, measurements, summary, evidence, extra)


def _spaced(word: str) -> str:
    """Pool words go mid-sentence: give word-like ones the leading space BPE tokens carry."""
    return " " + word.strip() if word.strip()[:1].isalnum() else word


def _row(trial: Trial, tau: float, verdict: str) -> TokenRow:
    edits = "; ".join(trial.text.edits) or "no edit"
    return TokenRow(list(trial.str_tokens), list(trial.values), [trial.trigger],
                    label=f"{verdict}: {edits}; activation {trial.activation:.3g} (tau {tau:.3g})",
                    pieces=list(trial.pieces))
