"""`simplify`: iterative simplification keeps the [[trigger]] and a share of the activation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.claims.marked import mark_positions

if TYPE_CHECKING:
    from neurontest.lab import Lab


class SimplifyClaim(Claim):
    """Drop, one at a time, the token whose removal keeps the activation at the last token of
    `text` highest. The shortest context still holding `keep_share` of the original activation
    must contain the [[marked]] trigger; `max_tokens` optionally bounds its length."""

    kind = "simplify"
    options = {"text": "text", "keep_share": "number", "max_tokens": "bound"}
    required = ("text",)

    def check(self, lab: Lab) -> None:
        mark_positions(lab.tokenizer, self.config["text"], require_marks=True)

    def run(self, lab: Lab) -> ClaimResult:
        from neurontest.measure.simplify import simplify

        marked = mark_positions(lab.tokenizer, self.config["text"])
        keep_share = float(self.config.get("keep_share", 0.5))
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
