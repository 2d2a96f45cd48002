"""`simplify`: iterative simplification keeps the [[trigger]] and a share of the activation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.claims.marked import mark_positions
from neurontest.claims.options import BoundText, ClaimOptions, Share, Text
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.measure.simplify import simplify

if TYPE_CHECKING:
    from neurontest.lab import Lab


MAX_SIMPLIFY_TOKENS = 256  # docs/benchmarks.md: simplification time by text length


class SimplifyClaim(Claim):
    """Drop, one at a time, the token whose removal keeps the activation at the last token of
    `text` highest. The shortest context still holding `keep_share` of the original activation
    must contain the [[marked]] trigger; `max_tokens` optionally bounds its length."""

    kind = "simplify"

    class Options(ClaimOptions):
        text: Text = Field(description="the text, its [[marked]] trigger among its tokens")
        keep_share: Share = Field(0.5, description="share of the activation the minimal text keeps")
        max_tokens: BoundText | None = Field(None, description="bound on the minimal text's length")

    def check(self, lab: Lab) -> None:
        # Each step tries dropping every remaining token: cost grows with the square of length.
        self.checked_text(lab, self.settings.text, "text", require_marks=True,
                          max_tokens=MAX_SIMPLIFY_TOKENS)

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        marked = mark_positions(lab.tokenizer, self.settings.text)
        keep_share = self.settings.keep_share
        result = simplify(lab.model, self.neuron, marked.text, target=-1)
        original = result.steps[0]
        minimal = result.minimal(keep_share)
        trigger_token = original.str_tokens[marked.positions[0]]
        # By id, not display string: a byte piece's string depends on its neighbours.
        trigger_id = original.token_ids[marked.positions[0]]
        kept = trigger_id in minimal.token_ids
        retained = minimal.activation / original.activation if original.activation else 0.0
        measurements = [
            Measurement("trigger_kept", float(kept), self.bound("trigger_kept", "== 1")),
            Measurement("minimal_tokens", len(minimal.str_tokens), self.bound("max_tokens")),
            Measurement("retained_share", retained),
        ]
        rows = [TokenRow(step.str_tokens, [step.activation if i == len(step.str_tokens) - 1 else 0.0
                                            for i in range(len(step.str_tokens))],
                         [i for i, t in enumerate(step.token_ids) if t == trigger_id],
                         label=f"{len(step.str_tokens)} tokens: activation {step.activation:.3g}"
                               + (f" (removed {step.removed!r})" if step.removed else ""),
                         pieces=step.pieces)
                for step in result.steps]
        summary = (f"minimal context keeping {keep_share:.0%} of {original.activation:.3g}: "
                   f"{''.join(minimal.str_tokens)!r} ({len(minimal.str_tokens)} tokens); "
                   f"trigger {trigger_token!r} {'kept' if kept else 'dropped'}")
        return ClaimResult(self.kind, self.neuron, measurements, summary,
                           [Evidence("simplification steps (activation at the last token)", rows)])
