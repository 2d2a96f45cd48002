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

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, WithJsonSchema

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.claims.options import PREDICATE_SCHEMA, BoundText, ClaimOptions, PredicateSpec
from neurontest.claims.predicates import predicate_from_dict
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.engine.head import HeadRef
from neurontest.engine.tokens import merged_pieces

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

    def neurons_to_mine(self) -> list:
        return []  # it reads attention patterns, not the unit's activation

    def check(self, lab: Lab) -> None:
        if not isinstance(self.neuron, HeadRef):
            raise ValueError(f"an 'attends' claim is about an attention head (id: L<layer>H<head>), "
                             f"not {self.neuron.short_id}")
        lab.check_neuron(self.neuron)
        target = parse_target(self.settings.to)
        if isinstance(target, dict):
            predicate_from_dict(target).check(lab.vocab)
        if self.settings.from_ is not None:
            predicate_from_dict(self.settings.from_).check(lab.vocab)

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        import torch

        from neurontest.measure.attention import head_patterns, mass_on

        head = self.neuron
        batch = lab.sample.batch
        target = parse_target(self.settings.to)
        patterns = head_patterns(lab.model, batch, head)
        where = batch.mask.clone()
        if target == FIRST:
            first = torch.zeros_like(batch.mask)
            first[:, 0] = True
            mass = mass_on(patterns, sources=first)
            to_text = "the first token of the text"
            where[:, 0] = False  # the first token can only attend to itself
        elif isinstance(target, dict):
            source = predicate_from_dict(target)
            mass = mass_on(patterns, sources=lab.claimed(source))
            to_text = f"source tokens {source.describe()}"
        else:
            mass = mass_on(patterns, offset=target)
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
        evidence = self._evidence(lab, patterns, mass, where)
        summary = f"{head.short_id} puts {mean:.3g} of its attention{from_text} on {to_text}"
        result = ClaimResult(self.kind, head, [measurement], summary, evidence)
        if n == 0:
            result.inconclusive = ("no corpus position matches `from:`; widen it or use a "
                                   "larger corpus")
        return result

    def _evidence(self, lab: Lab, patterns: Any, mass: Any, where: Any) -> list[Evidence]:
        """Heatmaps of the attention of the destinations with the least mass on the claim."""
        import torch

        scores = torch.where(where, mass, torch.full_like(mass, float("inf")))
        flat = scores.flatten().argsort()[: _WORST_SHOWN]
        width = mass.shape[1]
        rows = []
        for index in flat.tolist():
            row, dst = divmod(index, width)
            if not bool(where[row, dst]):
                break
            tokens = lab.sample.batch.str_tokens(lab.tokenizer, row)  # BOS included
            first = int(lab.sample.batch.has_bos)
            shown = tokens[first: dst + 1]
            # Pieces of the whole row, like its display strings: they depend on neighbours.
            ids = lab.sample.batch.tokens[row, : len(tokens)].tolist()
            pieces = merged_pieces(lab.tokenizer, ids)[first: dst + 1]
            weights = [float(w) for w in patterns[row, dst, first: dst + 1]]
            rows.append(TokenRow(shown, weights, [dst - first],
                                 label=f"mass on the claim {float(mass[row, dst]):.3g}",
                                 pieces=pieces if any(pieces) else []))
        return [Evidence("where the attention goes instead (weakest destinations; marked: the "
                         "destination)", rows, value_label="attention")] if rows else []
