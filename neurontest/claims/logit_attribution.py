"""`logit_attribution`: the tokens the neuron directly promotes (or suppresses) match a predicate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import torch
from pydantic import Field

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement
from neurontest.claims.options import BoundText, ClaimOptions, TokenPredicateSpec
from neurontest.claims.predicates import predicate_from_dict
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.engine.data.tokens import lone_token_text
from neurontest.measure.attribution import logit_direction, vocabulary_ranks

if TYPE_CHECKING:
    from neurontest.lab import Lab

#: Value label of the table that places the claimed tokens in the whole vocabulary; its rows are
#: labelled with the rank already (messages print them as they are).
RANK_VALUE_LABEL = "z-score among the vocabulary"
# Claimed tokens listed with their rank (a regex can match thousands; the best-ranked matter).
MAX_RANKED_CLAIMED = 20


class LogitAttributionClaim(Claim):
    """Among the top-`k` tokens of (W_out[L][n] * g_final) @ W_U (its own layer, through the
    final norm's gain), in `direction` promoted or suppressed, a `share` match `matches`. The
    result also places every claimed token in the whole vocabulary (rank and z-score)."""

    kind = "logit_attribution"

    class Options(ClaimOptions):
        matches: TokenPredicateSpec = Field(description="the tokens it is claimed to promote")
        k: Annotated[int, Field(ge=1, le=10_000)] = Field(20, description="top tokens inspected")
        direction: Literal["promoted", "suppressed"] = Field(
            "promoted", description="whether the top tokens are those promoted or suppressed")
        share: BoundText | None = Field(None, description="share of them matching (default '>= 0.5')")

    def check(self, lab: Lab) -> None:
        if self.settings.k > len(lab.vocab.strings):
            raise ValueError(f"`k: {self.settings.k}` of a 'logit_attribution' claim is more than the "
                             f"{len(lab.vocab.strings):,} tokens of the vocabulary; lower it")
        predicate_from_dict(self.settings.matches).check(lab.vocab)

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        direction = self.settings.direction
        promoted = direction == "promoted"
        other = "suppressed" if promoted else "promoted"
        matches = predicate_from_dict(self.settings.matches)
        table = matches.token_table(lab.vocab) if hasattr(matches, "token_table") else None
        if table is None:
            raise ValueError("`matches:` of a logit_attribution claim is a token predicate (no context)")
        weights = logit_direction(lab.model, self.neuron).float().cpu()
        size = min(len(weights), len(lab.vocab.strings))
        weights = weights[:size]
        k = min(self.settings.k, size)

        def ranked(sign: float) -> list[tuple[int, float]]:
            values, ids = torch.topk(sign * weights, k)
            return [(int(i), float(sign * v)) for v, i in zip(values, ids)]

        mine, opposite = (ranked(1.0), ranked(-1.0)) if promoted else (ranked(-1.0), ranked(1.0))
        hits = [bool(table[i]) for i, _ in mine]
        share = sum(hits) / len(hits) if hits else 0.0

        def shown(token_id: int) -> str:
            # A byte piece of a split character decodes alone to U+FFFD: show its own form.
            text = lab.vocab.strings[token_id]
            return lone_token_text(lab.tokenizer, token_id) if "\ufffd" in text else text

        named = [(shown(i), v) for i, v in mine]
        claimed_ids = [i for i in range(size) if bool(table[i])]
        ranks = vocabulary_ranks(weights, claimed_ids, promoted=promoted)
        where = (f"; the {len(ranks):,} claimed token(s) rank from #{ranks[0].rank:,} of {size:,} "
                 f"{direction} (median #{ranks[len(ranks) // 2].rank:,})" if ranks
                 else f"; no token of the vocabulary is {matches.describe()}")
        summary = (f"{sum(hits)} of the top-{k} {direction} tokens are {matches.describe()}" + where)
        rank_rows = [(f"{shown(r.token_id)!r} #{r.rank:,} "
                      f"(pushed {'up' if r.z > 0 else 'down'})", r.z)
                     for r in ranks[:MAX_RANKED_CLAIMED]]
        hidden = len(ranks) - len(rank_rows)
        evidence = [
            Evidence(f"top-{k} {direction} tokens", table=named, value_label="logit weight"),
            Evidence(f"claimed tokens by their {direction} rank among all {size:,} tokens"
                     + (f" (best {len(rank_rows)} of {len(ranks):,})" if hidden else ""),
                     table=rank_rows, value_label=RANK_VALUE_LABEL),
            Evidence(f"top-{k} {other} tokens",
                     table=[(shown(i), v) for i, v in opposite], value_label="logit weight"),
        ]
        detail = f"of the {k} most {direction} tokens, {sum(hits)} are {matches.describe()}"
        return ClaimResult(self.kind, self.neuron,
                           [Measurement("share", share, self.bound("share", ">= 0.5"), detail=detail)],
                           summary, evidence)
