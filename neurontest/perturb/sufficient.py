"""`sufficient`: a member of the claimed set put into neutral contexts makes the neuron fire."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, model_validator

from neurontest.claims.options import Texts
from neurontest.perturb.property import PropertyClaim, PropertyOptions
from neurontest.perturb.templates import template_slots
from neurontest.perturb.text import TokenText

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from neurontest.claims.predicates import Predicate
    from neurontest.lab import Lab
    from neurontest.perturb.sources import Encoder

_TRIGGER_SLOT = re.compile(r"\[\[\{(\w+)\}\]\]")


class SufficientClaim(PropertyClaim):
    """Members of the claimed set, put into contexts, make the neuron fire at them. Contexts:
    `templates` such as "We met in [[{month}]] {year}" with `slots: {year: [...]}` (a trigger
    slot without values takes the members), `texts` (a [[marked]] token is swapped for a member,
    an unmarked text gets one inserted), or else random strings of up to `length` pool words."""

    kind = "sufficient"

    class Options(PropertyOptions):
        templates: Texts | None = Field(None, description="texts with a [[{slot}]] trigger and {slots}")
        slots: dict[str, Annotated[list[str | int | float], Field(min_length=1, max_length=10_000)]] | None = (
            Field(None, description="values of each template slot"))
        texts: Texts | None = Field(None, description="texts a member is swapped or inserted into")
        length: Annotated[int, Field(ge=1, le=512)] = Field(8, description="words of a random context")

        @model_validator(mode="after")
        def _templates_and_slots(self) -> SufficientClaim.Options:
            slots = self.slots or {}
            for template in self.templates or []:
                match = _TRIGGER_SLOT.search(template)
                if not match:
                    raise ValueError(f"template {template!r} needs a trigger slot such as [[{{month}}]]")
                missing = [s for s in template_slots(template) if s not in slots and s != match.group(1)]
                if missing:
                    raise ValueError(f"template {template!r}: give values for slot(s) {missing} in `slots:`")
            if self.slots is not None and self.templates is None:
                raise ValueError("`slots:` fill `templates:`; add templates such as 'in [[{month}]] {year}'")
            return self

    expect_fire = True
    rate_name = "sufficiency_rate"
    verb = "make the neuron fire at the inserted member"
    marked_texts_required = False

    def check(self, lab: Lab) -> None:
        super().check(lab)
        from neurontest.perturb.sources import Encoder, members

        words = members(self.predicate, lab.vocab).words
        encoder = Encoder(lab.tokenizer)
        for template in self.settings.templates or []:
            trigger = _TRIGGER_SLOT.search(template).group(1)  # type: ignore[union-attr]
            values = {k: str(v[0]) for k, v in (self.settings.slots or {}).items()}
            values.setdefault(trigger, words[0])
            encoder.token_text(template.format(**values))  # ValueError if the trigger splits

    def strategy(self, lab: Lab, encoder: Encoder, predicate: Predicate) -> SearchStrategy[TokenText]:
        from hypothesis import strategies as st

        from neurontest.perturb.sources import members
        from neurontest.perturb.strategies import (
            filled_templates,
            random_contexts,
            token_texts,
            with_member_inserted,
        )

        member_pool = members(predicate, lab.vocab)
        parts = []
        templates = self.settings.templates or []
        if templates:
            slots = {k: [str(w) for w in v] for k, v in (self.settings.slots or {}).items()}
            for template in templates:
                slots.setdefault(_TRIGGER_SLOT.search(template).group(1), member_pool)  # type: ignore[union-attr, arg-type]
            parts.append(filled_templates(templates, slots).map(_cut(encoder)))
        if self.settings.texts:
            parts.append(with_member_inserted(token_texts(self.base_texts(encoder)), member_pool))
        if not parts:
            length = self.settings.length
            contexts = random_contexts(self.pool(lab, predicate), max_size=length)
            parts.append(with_member_inserted(contexts, member_pool))
        return st.one_of(parts)


def _cut(encoder: Encoder) -> Any:
    def cut_into_tokens(marked: str) -> TokenText:
        try:
            return encoder.token_text(marked)
        except ValueError:  # the member split into several tokens here: discarded
            return TokenText((marked,), None)

    return cut_into_tokens
