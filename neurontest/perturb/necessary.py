"""`necessary`: replacing the [[trigger]] with a non-member stops the neuron firing there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from neurontest.perturb import sources
from neurontest.perturb.property import ContextEditOptions, PropertyClaim

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from neurontest.claims.predicates import Predicate
    from neurontest.lab import Lab
    from neurontest.perturb.sources import Encoder
    from neurontest.perturb.text import TokenText

SOURCES = ("neighbours", "corpus", "vocabulary")
Source = Literal["neighbours", "corpus", "vocabulary"]


class NecessaryClaim(PropertyClaim):
    """The trigger of each [[marked]] text, replaced by a token outside the claimed set, leaves
    the activation there at or below tau. Replacements come from `replace_with` (default all, in
    this order of preference when shrinking): the trigger's nearest non-members in embedding
    space, frequent corpus tokens, the whole vocabulary. `edits` (default 0) adds context edits."""

    kind = "necessary"

    class Options(ContextEditOptions):
        replace_with: Annotated[list[Source], Field(min_length=1)] = Field(
            list(SOURCES), description="where replacements come from: neighbours, corpus, vocabulary")
        edits: Annotated[int, Field(ge=0, le=64)] = Field(0, description="context edits besides "
                                                                         "the replacement")

    expect_fire = False
    rate_name = "necessity_rate"
    verb = "stay silent once the trigger is replaced by a non-member"

    def strategy(self, lab: Lab, encoder: Encoder, predicate: Predicate) -> SearchStrategy[TokenText]:
        from hypothesis import strategies as st

        from neurontest.perturb.strategies import perturbed, replace_trigger, token_texts

        texts = self.base_texts(encoder)
        pools = []
        for source in self.settings.replace_with:
            if source == "neighbours":
                anchors = [t.trigger_token or "" for t in texts]
                pools.append(sources.neighbours(lab, predicate, anchors))
            elif source == "corpus":
                pools.append(sources.corpus_words(lab, predicate))
            else:
                pools.append(sources.vocab_non_members(predicate, lab.vocab))
        first = st.one_of([replace_trigger(p) for p in pools if p is not None and p.words])
        edits = self.settings.edits
        context = self.context_edits(lab, predicate) if edits else st.nothing()
        return perturbed(token_texts(texts), context, max_edits=edits, first=first)
