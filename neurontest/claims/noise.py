"""`noise`: noising the [[trigger]] token's embedding hurts the activation most."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.claims.marked import mark_positions
from neurontest.claims.options import BoundText, ClaimOptions, Seed, Text
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.measure.noise import noise_sensitivity

if TYPE_CHECKING:
    from neurontest.lab import Lab


class NoiseClaim(Claim):
    """Gaussian noise on each token's embedding in turn; the activation is read at the last
    token of `text`. The [[marked]] trigger must rank among the most sensitive positions
    (`trigger_rank`, default '<= 1') and/or carry a share of the total drop (`trigger_share`)."""

    kind = "noise"

    class Options(ClaimOptions):
        text: Text = Field(description="the text; the activation is read at its last token")
        scale: Annotated[float, Field(gt=0, le=100)] = Field(
            1.0, description="noise standard deviation, in units of the embedding's")
        draws: Annotated[int, Field(ge=1, le=4096)] = Field(16, description="noise draws per token")
        seed: Seed = Field(0, description="random seed of the noise")
        trigger_rank: BoundText | None = Field(
            None, description="the trigger's rank by sensitivity (default '<= 1')")
        trigger_share: BoundText | None = Field(None, description="the trigger's share of the total drop")

    def check(self, lab: Lab) -> None:
        self.checked_text(lab, self.settings.text, "text", require_marks=True)

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        marked = mark_positions(lab.tokenizer, self.settings.text)
        trigger = marked.positions[0]
        result = noise_sensitivity(
            lab.model, self.neuron, marked.text, target=-1, scale=self.settings.scale,
            draws=self.settings.draws, seed=self.settings.seed,
        )
        drops = [-c for c in result.change]
        rank = 1 + sum(1 for d in drops if d > drops[trigger])
        total = sum(max(d, 0.0) for d in drops)
        share = max(drops[trigger], 0.0) / total if total > 0 else 0.0
        measurements = [
            Measurement("trigger_rank", rank, self.bound("trigger_rank", None if "trigger_share" in self.config else "<= 1")),
            Measurement("trigger_share", share, self.bound("trigger_share")),
            Measurement("clean_activation", result.clean),
        ]
        row = TokenRow(result.str_tokens, list(result.change), [trigger],
                       label=f"activation change at the last token when each token is noised (clean {result.clean:.3g})",
                       pieces=result.pieces)
        summary = (f"noise (scale {self.settings.scale:g}) on {marked.text!r}: trigger "
                   f"{result.str_tokens[trigger]!r} is sensitivity rank {rank} of {len(drops)}")
        return ClaimResult(self.kind, self.neuron, measurements, summary,
                           [Evidence("noise sensitivity", [row], value_label="activation change")])
