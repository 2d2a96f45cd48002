"""`logit_attribution`: the tokens the neuron directly promotes (or suppresses) match a predicate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement
from neurontest.claims.predicates import predicate_from_dict

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

        from neurontest.measure.attribution import logit_direction

        k = int(self.config.get("k", 20))
        direction = self.config.get("direction", "promoted")
        matches = predicate_from_dict(self.config["matches"])
        weights = logit_direction(lab.model, self.neuron).float().cpu()
        table = matches.token_table(lab.vocab) if hasattr(matches, "token_table") else None
        if table is None:
            raise ValueError("`matches:` of a logit_attribution claim is a token predicate (no context)")

        def ranked(sign: float) -> list[tuple[int, float]]:
            values, ids = torch.topk(sign * weights, k)
            return [(int(i), float(sign * v)) for v, i in zip(values, ids)]

        mine, other = (ranked(1.0), ranked(-1.0)) if direction == "promoted" else (ranked(-1.0), ranked(1.0))
        hits = [bool(table[i]) for i, _ in mine]
        share = sum(hits) / len(hits) if hits else 0.0
        named = [(lab.vocab.strings[i], v) for i, v in mine]
        summary = (f"{sum(hits)} of the top-{k} {direction} tokens are {matches.describe()}: "
                   + ", ".join(repr(t) for t, _ in named[:8]))
        evidence = [Evidence(f"top-{k} {direction} tokens", table=named, value_label="logit weight"),
                    Evidence(f"top-{k} {'suppressed' if direction == 'promoted' else 'promoted'} tokens",
                             table=[(lab.vocab.strings[i], v) for i, v in other], value_label="logit weight")]
        return ClaimResult(self.kind, self.neuron,
                           [Measurement("share", share, self.bound("share", ">= 0.5"))], summary, evidence)
