"""`invariant`: perturbing the context of the [[trigger]] keeps the neuron firing there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neurontest.perturb.property import ContextEditOptions, PropertyClaim

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from neurontest.lab import Lab
    from neurontest.perturb.sources import Encoder
    from neurontest.perturb.text import TokenText
    from neurontest.claims.predicates import Predicate


class InvariantClaim(PropertyClaim):
    """Up to `edits` perturbations of each [[marked]] text (delete, insert, replace, case and
    spacing changes away from the trigger; swapping the trigger for another member of the
    claimed set) keep the activation at the trigger above tau: the share of perturbed texts
    that do is held to `min_rate` (default '>= 1.0': any counterexample fails, shrunk)."""

    kind = "invariant"
    Options = ContextEditOptions
    expect_fire = True
    rate_name = "invariance_rate"
    verb = "keep the neuron firing at the trigger"

    def strategy(self, lab: Lab, encoder: Encoder, predicate: Predicate) -> SearchStrategy[TokenText]:
        from hypothesis import strategies as st

        from neurontest.perturb.sources import members
        from neurontest.perturb.strategies import perturbed, swap_trigger, token_texts

        edits: Any = self.context_edits(lab, predicate)
        if "swap" in (self.settings.perturbations or ["swap"]):
            edits = st.one_of(edits, swap_trigger(members(predicate, lab.vocab)))
        return perturbed(token_texts(self.base_texts(encoder)), edits,
                         max_edits=self.settings.edits)
