"""`logit_attribution`: the tokens the neuron directly promotes (or suppresses) match a predicate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement
from neurontest.predicates import predicate_from_dict

if TYPE_CHECKING:
    from neurontest.lab import Lab


class LogitAttributionClaim(Claim):
    """Among the top-`k` tokens of (W_out[L][n] * g_final) @ W_U (its own layer, through the
    final norm's gain), in `direction` promoted or suppressed, a `share` match `matches`."""

    kind = "logit_attribution"
    options = {"matches": "predicate", "k": "integer", "direction": "enum:promoted|suppressed",
               "share": "bound"}
    required = ("matches",)

    @classmethod
    def validate_options(cls, data: dict) -> None:
        super().validate_options(data)
        predicate_from_dict(data["matches"])

    def check(self, lab: Lab) -> None:
        predicate_from_dict(self.config["matches"]).check(lab.vocab)

    def run(self, lab: Lab) -> ClaimResult:
        import torch

        from neurontest.attribution import logit_attribution

        k = int(self.config.get("k", 20))
        direction = self.config.get("direction", "promoted")
        matches = predicate_from_dict(self.config["matches"])
        attribution = logit_attribution(lab.model, self.neuron, k=k)
        ranked = attribution.promoted if direction == "promoted" else attribution.suppressed
        table = matches.token_table(lab.vocab) if hasattr(matches, "token_table") else None
        hits = []
        for token, _value in ranked:
            ids = lab.tokenizer(token, add_special_tokens=False)["input_ids"]
            hits.append(bool(table is not None and len(ids) == 1 and table[torch.tensor(ids[0])]))
        share = sum(hits) / len(hits) if hits else 0.0
        summary = (f"{sum(hits)} of the top-{k} {direction} tokens are {matches.describe()}: "
                   + ", ".join(repr(t) for t, _ in ranked[:8]))
        evidence = [Evidence(f"top-{k} {direction} tokens", table=list(ranked), value_label="logit weight"),
                    Evidence(f"top-{k} {'suppressed' if direction == 'promoted' else 'promoted'} tokens",
                             table=list(attribution.suppressed if direction == "promoted" else attribution.promoted),
                             value_label="logit weight")]
        return ClaimResult(self.kind, self.neuron,
                           [Measurement("share", share, self.bound("share", ">= 0.5"))], summary, evidence)
