"""`attends`: an attention head puts at least `mass` of its attention on the claimed sources.

    - id: L5H3
      claims:
        - kind: attends
          to: previous                 # or self, first, {offset: -2}, or a predicate on source tokens
          from: {tokens: [March]}      # optional: only these destination tokens count
          mass: ">= 0.6"

The metric is the mean, over every scorable corpus destination (where `from:` holds), of the share
of the head's attention that lands on the claimed source positions; the evidence shows where the
attention of the worst destinations goes instead, as heatmaps over their texts.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Annotated, Any

import torch
from pydantic import AfterValidator, Field, WithJsonSchema

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.claims.options import PREDICATE_SCHEMA, BoundText, ClaimOptions, PredicateSpec
from neurontest.claims.predicates import predicate_from_dict
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.engine.data.tokens import merged_pieces
from neurontest.engine.run.attention_mass import AttentionMass
from neurontest.engine.units.head import HeadRef
from neurontest.measure.attention import head_patterns

if TYPE_CHECKING:
    from neurontest.lab import Lab

_NAMED_OFFSETS = {"previous": -1, "self": 0}
_WORST_SHOWN = 5


# `first`: the text's first position, where many heads park attention they do not use (a
# "sink"); it is a position, not an offset, so it is matched like a predicate on sources.
FIRST = "first"


def parse_target(value: Any) -> int | str | dict:
    """An offset (from `previous`, `self` or `{offset: N}`), `first`, or a predicate mapping."""
    if value == FIRST:
        return FIRST
    if isinstance(value, str) and value in _NAMED_OFFSETS:
        return _NAMED_OFFSETS[value]
    if isinstance(value, dict) and set(value) == {"offset"}:
        offset = value["offset"]
        if isinstance(offset, bool) or not isinstance(offset, int) or offset > 0:
            raise ValueError(f"`to: {{offset: N}}` takes a whole number <= 0 (-1 is the previous "
                             f"token), got {offset!r}")
        return offset
    if isinstance(value, dict):
        predicate_from_dict(value)
        return value
    raise ValueError("`to:` is previous, self, first, {offset: -N} or a predicate on source tokens, "
                     f"e.g. {{tokens: [March]}}; got {value!r}")


def _target(value: Any) -> Any:
    parse_target(value)
    return value


AttentionTarget = Annotated[Any, AfterValidator(_target), WithJsonSchema({"oneOf": [
    {"enum": ["previous", "self", FIRST]},
    {"type": "object", "required": ["offset"], "additionalProperties": False,
     "properties": {"offset": {"type": "integer", "maximum": 0}}},
    PREDICATE_SCHEMA]})]


class AttendsClaim(Claim):
    """The head's mean attention mass on the claimed sources (`to:`), over corpus destinations
    (where `from:` holds), is within `mass`."""

    kind = "attends"

    class Options(ClaimOptions):
        to: AttentionTarget = Field(description="previous, self, first, {offset: -N} or a "
                                                "predicate on source tokens")
        from_: PredicateSpec | None = Field(None, alias="from",
                                             description="only these destination tokens count")
        mass: BoundText = Field(description="bound on the mean attention mass on the target")

    def neurons_to_mine(self) -> list[AttentionMass]:
        """The head's mass on the claimed sources, mined in the session's one corpus pass."""
        return [self.probe] if isinstance(self.neuron, HeadRef) else []  # else: `check` says why

    @property
    def probe(self) -> AttentionMass:
        """What the claim reads: an attention-mass column (two claims on one head and target
        share it; a predicate target is keyed by its spec, and bound to its corpus mask by the
        lab before mining)."""
        head = self.neuron
        target = parse_target(self.settings.to)
        if target == FIRST:
            return AttentionMass(head.layer, head.head, "first")
        if isinstance(target, dict):
            spec = json.dumps(target, sort_keys=True, default=str).encode()
            return AttentionMass(head.layer, head.head,
                                 f"sources-{hashlib.sha256(spec).hexdigest()[:16]}",
                                 sources=predicate_from_dict(target))
        return AttentionMass(head.layer, head.head, f"offset{target}")

    def check(self, lab: Lab) -> None:
        if not isinstance(self.neuron, HeadRef):
            raise ValueError(f"an 'attends' claim is about an attention head (id: L<layer>H<head>), "
                             f"not {self.neuron.short_id}")
        lab.check_unit(self.neuron)
        target = parse_target(self.settings.to)
        if isinstance(target, dict):
            predicate_from_dict(target).check(lab.vocab)
        if self.settings.from_ is not None:
            predicate_from_dict(self.settings.from_).check(lab.vocab)

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        head = self.neuron
        batch = lab.sample.batch
        target = parse_target(self.settings.to)
        mass = lab.activations(self.probe)
        where = batch.mask.clone()
        if target == FIRST:
            to_text = "the first token of the text"
            where[:, 0] = False  # the first token can only attend to itself
        elif isinstance(target, dict):
            to_text = f"source tokens {predicate_from_dict(target).describe()}"
        else:
            to_text = {-1: "the previous token", 0: "the token itself"}.get(
                target, f"the token {-target} back")
            if target != 0:
                where[:, : -target] = False  # no such source in the window
        from_text = ""
        if self.settings.from_ is not None:
            origin = predicate_from_dict(self.settings.from_)
            where &= lab.claimed(origin)
            from_text = f" from {origin.describe()}"
        n = int(where.sum())
        values = mass[where]
        mean = float(values.mean()) if n else 0.0
        measurement = Measurement(
            "mass", mean, self.bound("mass"),
            detail=f"mean share of attention{from_text} on {to_text}, over {n} corpus positions")
        evidence = self._evidence(lab, mass, where)
        summary = f"{head.short_id} puts {mean:.3g} of its attention{from_text} on {to_text}"
        result = ClaimResult(self.kind, head, [measurement], summary, evidence)
        if n == 0:
            result.inconclusive = ("no corpus position matches `from:`; widen it or use a "
                                   "larger corpus")
        return result

    def _evidence(self, lab: Lab, mass: Any, where: Any) -> list[Evidence]:
        """The destinations with the least mass on the claim: where their attention goes
        instead, as heatmaps over their texts (a forward over those few rows only). A run that
        read the mass from the activation cache without loading the model shows each weakest
        text's mass on the claim per destination instead."""
        scores = torch.where(where, mass, torch.full_like(mass, float("inf")))
        worst = [divmod(i, mass.shape[1]) for i in scores.flatten().argsort()[: _WORST_SHOWN].tolist()]
        worst = [(row, dst) for row, dst in worst if bool(where[row, dst])]
        if not worst:
            return []
        batch = lab.sample.batch
        first = int(batch.has_bos)
        patterns = None
        if lab.model_loaded:
            rows = sorted({row for row, _ in worst})
            sub = head_patterns(lab.model, batch.select(rows), self.neuron)
            patterns = {row: sub[i] for i, row in enumerate(rows)}
        shown_rows = []
        for row, dst in worst:
            tokens = batch.str_tokens(lab.tokenizer, row)  # BOS included
            # Pieces of the whole row, like its display strings: they depend on neighbours.
            ids = batch.tokens[row, : len(tokens)].tolist()
            pieces = merged_pieces(lab.tokenizer, ids)[first: dst + 1]
            label = f"mass on the claim {float(mass[row, dst]):.3g}"
            if patterns is not None:
                weights = [float(w) for w in patterns[row][dst, first: dst + 1]]
            else:
                weights = [float(w) for w in mass[row, first: dst + 1]]
                label += " (shaded: the mass on the claim at each destination)"
            shown_rows.append(TokenRow(tokens[first: dst + 1], weights, [dst - first], label=label,
                                       pieces=pieces if any(pieces) else []))
        title = ("where the attention goes instead (weakest destinations; marked: the destination)"
                 if patterns is not None else
                 "the weakest destinations (marked) and the mass on the claim along their texts")
        return [Evidence(title, shown_rows, value_label="attention")]
