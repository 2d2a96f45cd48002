"""`noise`: noising the [[trigger]] token's embedding hurts the activation most."""

from __future__ import annotations

from typing import TYPE_CHECKING

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.claims.marked import mark_positions

if TYPE_CHECKING:
    from neurontest.lab import Lab


class NoiseClaim(Claim):
    """Gaussian noise on each token's embedding in turn; the activation is read at the last
    token of `text`. The [[marked]] trigger must rank among the most sensitive positions
    (`trigger_rank`, default '<= 1') and/or carry a share of the total drop (`trigger_share`)."""

    kind = "noise"
    options = {"text": "text", "scale": "number", "draws": "integer", "seed": "integer",
               "trigger_rank": "bound", "trigger_share": "bound"}
    required = ("text",)

    def check(self, lab: Lab) -> None:
        mark_positions(lab.tokenizer, self.config["text"], require_marks=True)

    def run(self, lab: Lab) -> ClaimResult:
        from neurontest.measure.noise import noise_sensitivity

        marked = mark_positions(lab.tokenizer, self.config["text"])
        trigger = marked.positions[0]
        result = noise_sensitivity(
            lab.model, self.neuron, marked.text, target=-1, scale=float(self.config.get("scale", 1.0)),
            draws=int(self.config.get("draws", 16)), seed=int(self.config.get("seed", 0)),
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
        summary = (f"noise (scale {self.config.get('scale', 1.0)}) on {marked.text!r}: trigger "
                   f"{result.str_tokens[trigger]!r} is sensitivity rank {rank} of {len(drops)}")
        return ClaimResult(self.kind, self.neuron, measurements, summary,
                           [Evidence("noise sensitivity", [row], value_label="activation change")])
