"""`top_examples`: among the neuron's k strongest corpus activations, a share match the predicate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement
from neurontest.claims.evidence import example_row
from neurontest.claims.options import BoundText, ClaimOptions
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.measure.top_examples import top_examples

if TYPE_CHECKING:
    from neurontest.lab import Lab


class TopExamplesClaim(Claim):
    """`share` of the `k` top-activating corpus positions (one per window) satisfy `fires_on`."""

    kind = "top_examples"

    class Options(ClaimOptions):
        k: Annotated[int, Field(ge=1, le=10_000)] = Field(20, description="top positions inspected")
        share: BoundText | None = Field(None, description="share of them matching (default '>= 0.9')")
    needs_corpus = True
    needs_predicate = True

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        k = self.settings.k
        values = lab.activations(self.neuron)
        claimed = lab.claimed(self.predicate)
        examples = top_examples(values, lab.sample.batch, lab.tokenizer, k=k)
        matches = [bool(claimed[e.row, e.position]) for e in examples]
        share = sum(matches) / len(matches) if matches else 0.0
        rows = [example_row(e, label=("match" if m else "NO MATCH")) for e, m in zip(examples, matches)]
        misses = [r for r, m in zip(rows, matches) if not m]
        evidence = [Evidence(f"top-{k} corpus examples not matching the claim", misses)] if misses else []
        evidence.append(Evidence(f"top-{k} corpus examples", rows))
        summary = f"{sum(matches)} of the top {len(examples)} activations are {self.predicate.describe()}"
        return ClaimResult(self.kind, self.neuron,
                           [Measurement("share", share, self.bound("share", ">= 0.9"))], summary, evidence)
