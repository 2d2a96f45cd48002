"""`adversarial`: search for texts that make the neuron fire where the predicate is false.

An "only" claim (the neuron fires only where `fires_on` holds) survives if no search finds a
text whose last token has activation > tau while the predicate is false there. Two searches:
`optimize` (continuous prompts projected to real tokens, `neurontest.measure.optimize`) and
`substitute` (greedy batched token substitution, `substitute.py`, started from the optimized
prompts and from corpus windows). `both` (default) runs one, then the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import torch
from pydantic import Field

from neurontest.claims.base import Bound, Claim, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.claims.options import ClaimOptions, Seed
from neurontest.claims.predicates import TokenPredicate
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.engine.data.tokens import batch_from_ids, bos_id
from neurontest.engine.run.activations import neuron_activations
from neurontest.measure.optimize import optimize_prompts
from neurontest.perturb.substitute import Attempt, last_token_scores, substitution_search

if TYPE_CHECKING:
    from neurontest.lab import Lab


class AdversarialClaim(Claim):
    """No text found by `budget` steps of search (per method) makes the neuron exceed tau at a
    last token where `fires_on` is false; the strongest off-predicate activation reached is
    measured either way, and a found text is the counterexample."""

    kind = "adversarial"
    needs_predicate = True
    uses_tau = True

    class Options(ClaimOptions):
        budget: Annotated[int, Field(ge=1, le=10_000)] = Field(60, description="search steps per method")
        method: Literal["optimize", "substitute", "both"] = Field(
            "both", description="gradient prompt optimisation, token substitution, or both")
        n_prompts: Annotated[int, Field(ge=1, le=256)] = Field(4, description="prompts optimised at once")
        length: Annotated[int, Field(ge=1, le=512)] = Field(6, description="tokens per searched prompt")
        seed: Seed = Field(0, description="random seed of the search")
        candidates: Annotated[int, Field(ge=1, le=4096)] = Field(
            64, description="substitution candidates tried per step")

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        predicate = self.predicate
        tau = lab.tau(self.neuron, self.threshold())
        method, budget, seed = self.settings.method, self.settings.budget, self.settings.seed
        n_prompts, length = self.settings.n_prompts, self.settings.length
        attempts: list[Attempt] = []
        starts: list[list[int]] = []
        if method in ("optimize", "both"):
            prompts = optimize_prompts(lab.model, self.neuron, n_prompts=n_prompts, length=length,
                                       steps=budget, seed=seed)
            rows = [p.token_ids for p in prompts]
            acts, holds = last_token_scores(lab.model, self.neuron, predicate, lab.vocab, rows)
            attempts += [Attempt(r, float(a), bool(h), "optimize")
                         for r, a, h in zip(rows, acts.tolist(), holds.tolist())]
            starts += rows
        best_off = max((a for a in attempts if not a.predicate_holds),
                       key=lambda a: a.activation, default=None)
        steps = 0
        if method in ("substitute", "both") and not (best_off and best_off.activation > tau):
            result = self._substitute(lab, predicate, starts, n_prompts, length, budget, seed, tau)
            attempts += result.final
            steps = result.steps
            if result.best_off and (best_off is None or result.best_off.activation > best_off.activation):
                best_off = result.best_off
        return self._result(lab, tau, attempts, best_off, method, budget, steps)

    def _substitute(self, lab: Lab, predicate: Any, starts: list[list[int]], n_prompts: int,
                    length: int, budget: int, seed: int, tau: float) -> Any:
        from neurontest.perturb.sources import clean_mask, token_table

        vocab = lab.vocab
        allowed = clean_mask(vocab)
        last_allowed = allowed & ~token_table(predicate, vocab) if isinstance(
            predicate, TokenPredicate) else allowed
        starts = starts + _corpus_windows(lab, max(n_prompts - len(starts), 1), length, seed)
        return substitution_search(
            lab.model, self.neuron, predicate, vocab, starts, allowed=allowed,
            last_allowed=last_allowed, steps=budget, seed=seed, stop_above=tau,
            candidates=self.settings.candidates,
            batch_size=max(lab.batch_size or 512, 512))  # automatic (None) keeps the 512 floor

    def _result(self, lab: Lab, tau: float, attempts: list[Attempt], best_off: Attempt | None,
                method: str, budget: int, steps: int) -> ClaimResult:
        strongest = max((a.activation for a in attempts + ([best_off] if best_off else [])),
                        default=float("-inf"))
        off_value = best_off.activation if best_off else float("-inf")
        measurements = [Measurement("max_off_predicate_activation", off_value, Bound("<=", tau)),
                        Measurement("max_activation", strongest)]
        found = best_off is not None and best_off.activation > tau
        evidence = []
        if best_off is not None:
            title = ("counterexample: fires where the claim says it should not" if found
                     else "strongest activation found where the predicate is false")
            evidence.append(Evidence(title, [self._row(lab, best_off, tau)]))
        on = sorted((a for a in attempts if a.predicate_holds), key=lambda a: -a.activation)[:3]
        if on:
            evidence.append(Evidence("strongest texts found where the predicate holds",
                                     [self._row(lab, a, tau) for a in on]))
        summary = (f"{method} search (budget {budget} steps per method, {steps} substitution "
                   f"steps run): "
                   f"strongest activation off the predicate {off_value:.3g} vs tau={tau:.3g}")
        if found and best_off is not None:
            text = lab.tokenizer.decode(best_off.ids)
            summary += (f"; counterexample ({best_off.method}): {text!r} fires "
                        f"{best_off.activation:.3g} at {lab.tokenizer.decode(best_off.ids[-1:])!r}")
        return ClaimResult(self.kind, self.neuron, measurements, summary, evidence)

    def _row(self, lab: Lab, attempt: Attempt, tau: float) -> TokenRow:
        bos = bos_id(lab.tokenizer)
        head = [] if bos is None else [bos]
        batch = batch_from_ids([head + attempt.ids], lab.tokenizer, has_bos=bool(head))
        values = neuron_activations(lab.model, batch, [self.neuron])[self.neuron][0, len(head):]
        strings = lab.vocab.strings
        verdict = "predicate holds" if attempt.predicate_holds else "predicate false"
        return TokenRow([strings[i] for i in attempt.ids], values.tolist(), [len(attempt.ids) - 1],
                        label=f"{attempt.method}: activation {attempt.activation:.3g} at the last "
                              f"token ({verdict}; tau {tau:.3g})")


def _corpus_windows(lab: Lab, n: int, length: int, seed: int) -> list[list[int]]:
    """`n` random runs of `length` real tokens from the corpus windows (BOS excluded)."""
    batch = lab.sample.batch
    generator = torch.Generator().manual_seed(seed)
    lengths = batch.mask.sum(dim=1)
    rows = (lengths >= length).nonzero().flatten()
    if len(rows) == 0:
        raise ValueError(f"no corpus window has {length} tokens; lower `length:`")
    out = []
    first = int(batch.has_bos)
    for _ in range(n):
        row = int(rows[torch.randint(len(rows), (1,), generator=generator)])
        start = first + int(torch.randint(int(lengths[row]) - length + 1, (1,), generator=generator))
        out.append(batch.tokens[row, start: start + length].tolist())
    return out
