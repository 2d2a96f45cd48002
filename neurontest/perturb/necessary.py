"""`necessary`: replacing the [[trigger]] with a non-member stops the neuron firing there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neurontest.perturb.property import COMMON_OPTIONS, PropertyClaim

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from neurontest.lab import Lab
    from neurontest.perturb.sources import Encoder
    from neurontest.perturb.text import TokenText
    from neurontest.claims.predicates import Predicate

SOURCES = ("neighbours", "corpus", "vocabulary")


class NecessaryClaim(PropertyClaim):
    """The trigger of each [[marked]] text, replaced by a token outside the claimed set, leaves
    the activation there at or below tau. Replacements come from `replace_with` (default all, in
    this order of preference when shrinking): the trigger's nearest non-members in embedding
    space, frequent corpus tokens, the whole vocabulary. `edits` (default 0) adds context edits."""

    kind = "necessary"
    options = ({"texts": "texts", "replace_with": "texts", "perturbations": "texts",
                "edits": "integer"} | COMMON_OPTIONS)
    required = ("texts",)
    expect_fire = False
    rate_name = "necessity_rate"
    verb = "stay silent once the trigger is replaced by a non-member"

    @classmethod
    def validate_options(cls, data: dict[str, Any]) -> None:
        super().validate_options(data)
        unknown = sorted(set(data.get("replace_with", [])) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown `replace_with` source(s) {unknown}; choose from {list(SOURCES)}")

    def strategy(self, lab: Lab, encoder: Encoder, predicate: Predicate) -> SearchStrategy[TokenText]:
        from hypothesis import strategies as st

        from neurontest.perturb import sources
        from neurontest.perturb.strategies import perturbed, replace_trigger, token_texts

        texts = self.base_texts(encoder)
        pools = []
        for source in self.config.get("replace_with", SOURCES):
            if source == "neighbours":
                anchors = [t.trigger_token or "" for t in texts]
                pools.append(sources.neighbours(lab, predicate, anchors))
            elif source == "corpus":
                pools.append(sources.corpus_words(lab, predicate))
            else:
                pools.append(sources.vocab_non_members(predicate, lab.vocab))
        first = st.one_of([replace_trigger(p) for p in pools if p is not None and p.words])
        edits = int(self.config.get("edits", 0))
        context = self.context_edits(lab, predicate) if edits else st.nothing()
        return perturbed(token_texts(texts), context, max_edits=edits, first=first)
