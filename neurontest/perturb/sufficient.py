"""`sufficient`: a member of the claimed set put into neutral contexts makes the neuron fire."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from neurontest.perturb.property import COMMON_OPTIONS, PropertyClaim

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from neurontest.lab import Lab
    from neurontest.perturb.sources import Encoder
    from neurontest.perturb.text import TokenText
    from neurontest.claims.predicates import Predicate

_TRIGGER_SLOT = re.compile(r"\[\[\{(\w+)\}\]\]")


class SufficientClaim(PropertyClaim):
    """Members of the claimed set, put into contexts, make the neuron fire at them. Contexts:
    `templates` such as "We met in [[{month}]] {year}" with `slots: {year: [...]}` (a trigger
    slot without values takes the members), `texts` (a [[marked]] token is swapped for a member,
    an unmarked text gets one inserted), or else random strings of up to `length` pool words."""

    kind = "sufficient"
    options = ({"templates": "texts", "slots": "slots", "texts": "texts", "length": "integer"}
               | COMMON_OPTIONS)
    expect_fire = True
    rate_name = "sufficiency_rate"
    verb = "make the neuron fire at the inserted member"
    marked_texts_required = False

    @classmethod
    def validate_options(cls, data: dict[str, Any]) -> None:
        from neurontest.perturb.templates import template_slots  # not strategies: no Hypothesis

        super().validate_options(data)
        slots = data.get("slots", {})
        if not isinstance(slots, dict) or not all(isinstance(v, list) and v for v in slots.values()):
            raise ValueError("`slots:` maps each slot name to a non-empty list of words")
        templates = data.get("templates", [])
        if not isinstance(templates, list) or not all(isinstance(t, str) for t in templates):
            raise ValueError("`templates:` is a list of texts, each with a [[{slot}]] trigger")
        for template in templates:
            match = _TRIGGER_SLOT.search(template)
            if not match:
                raise ValueError(f"template {template!r} needs a trigger slot such as [[{{month}}]]")
            missing = [s for s in template_slots(template) if s not in slots and s != match.group(1)]
            if missing:
                raise ValueError(f"template {template!r}: give values for slot(s) {missing} in `slots:`")
        if "slots" in data and "templates" not in data:
            raise ValueError("`slots:` fill `templates:`; add templates such as 'in [[{month}]] {year}'")

    def check(self, lab: Lab) -> None:
        super().check(lab)
        from neurontest.perturb.sources import Encoder, members

        words = members(self.predicate, lab.vocab).words
        encoder = Encoder(lab.tokenizer)
        for template in self.config.get("templates", []):
            trigger = _TRIGGER_SLOT.search(template).group(1)  # type: ignore[union-attr]
            values = {k: str(v[0]) for k, v in self.config.get("slots", {}).items()}
            values.setdefault(trigger, words[0])
            encoder.token_text(template.format(**values))  # ValueError if the trigger splits

    def strategy(self, lab: Lab, encoder: Encoder, predicate: Predicate) -> SearchStrategy[TokenText]:
        from hypothesis import strategies as st

        from neurontest.perturb.sources import members
        from neurontest.perturb.strategies import (
            filled_templates, random_contexts, token_texts, with_member_inserted,
        )

        member_pool = members(predicate, lab.vocab)
        parts = []
        templates = self.config.get("templates", [])
        if templates:
            slots = {k: [str(w) for w in v] for k, v in self.config.get("slots", {}).items()}
            for template in templates:
                slots.setdefault(_TRIGGER_SLOT.search(template).group(1), member_pool)  # type: ignore[union-attr, arg-type]
            parts.append(filled_templates(templates, slots).map(_cut(encoder)))
        if self.config.get("texts"):
            parts.append(with_member_inserted(token_texts(self.base_texts(encoder)), member_pool))
        if not parts:
            length = int(self.config.get("length", 8))
            contexts = random_contexts(self.pool(lab, predicate), max_size=length)
            parts.append(with_member_inserted(contexts, member_pool))
        return st.one_of(parts)


def _cut(encoder: Encoder) -> Any:
    from neurontest.perturb.text import TokenText

    def cut_into_tokens(marked: str) -> TokenText:
        try:
            return encoder.token_text(marked)
        except ValueError:  # the member split into several tokens here: discarded
            return TokenText((marked,), None)

    return cut_into_tokens
