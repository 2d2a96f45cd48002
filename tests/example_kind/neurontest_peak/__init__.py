"""`peak`: a unit's largest activation over hand-written texts lies within a bound.

    - kind: peak
      texts: ["we met in March", "the cat sat"]
      max: ">= 5"
"""

from __future__ import annotations

from pydantic import Field

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.claims.options import BoundText, ClaimOptions, Texts
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.lab import Lab
from neurontest.measure.readout import activations_on_texts


class PeakClaim(Claim):
    """The largest activation of the unit over `texts` satisfies `max`."""

    kind = "peak"

    class Options(ClaimOptions):
        texts: Texts = Field(description="texts the unit reads")
        max: BoundText = Field(description="bound on the largest activation over the texts")

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        readouts = activations_on_texts(lab.model, self.neuron, list(self.settings.texts))
        peak = max(max(r.values) for r in readouts)
        rows = [TokenRow(r.str_tokens, r.values, [r.values.index(max(r.values))]) for r in readouts]
        return ClaimResult(self.kind, self.neuron, [Measurement("max", peak, self.bound("max"))],
                           f"largest activation {peak:.3g} over {len(readouts)} text(s)",
                           [Evidence("the texts", rows)])
