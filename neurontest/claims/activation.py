"""`activation`: the predicate against real firing on the corpus, scored by the field's metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement
from neurontest.claims.evidence import corpus_rows
from neurontest.measure.metrics import METRIC_NAMES

if TYPE_CHECKING:
    from neurontest.lab import Lab


class ActivationClaim(Claim):
    """Bounds on precision, recall, F1, IoU, AUPRC, Pearson, variance explained or balanced
    accuracy of `fires_on` against `activation > tau` over the corpus."""

    kind = "activation"
    options = {name: "bound" for name in METRIC_NAMES} | {"show": "integer"}
    needs_corpus = True
    needs_predicate = True

    @classmethod
    def validate_options(cls, data: dict) -> None:
        super().validate_options(data)
        if not any(name in data for name in METRIC_NAMES):
            raise ValueError(
                f"an 'activation' claim needs at least one metric bound, e.g. `f1: '>= 0.7'` "
                f"(metrics: {', '.join(METRIC_NAMES)})"
            )

    def run(self, lab: Lab) -> ClaimResult:
        threshold = self.threshold()
        scores = lab.score(self.neuron, self.predicate, threshold)
        measurements = [Measurement(name, scores[name], self.bound(name)) for name in METRIC_NAMES
                        if name in self.config]
        context = [Measurement(name, scores[name]) for name in METRIC_NAMES if name not in self.config]
        tau = scores["tau"]
        show = int(self.config.get("show", 5))
        claimed = lab.claimed(self.predicate)
        values = lab.activations(self.neuron)
        mask = lab.sample.batch.mask
        evidence = [
            Evidence("fires where the claim says it should not (false positives)",
                     corpus_rows(lab, self.neuron, mask & ~claimed & (values > tau), show, claimed)),
            Evidence("claimed but silent (false negatives)",
                     corpus_rows(lab, self.neuron, claimed & (values <= tau), show, claimed, weakest=True)),
        ]
        summary = (f"{self.predicate.describe()} vs firing (tau={tau:.3g}{'' if not threshold.relative else ' = ' + threshold.describe()}) over "
                   f"{int(scores['n_positions'])} tokens: {int(scores['n_claimed'])} claimed, "
                   f"{int(scores['n_firing'])} firing")
        return ClaimResult(self.kind, self.neuron, measurements + context, summary, evidence)
