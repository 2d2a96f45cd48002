"""Claim kinds by their YAML name: every kind the hypothesis format knows.

Built-ins (the measurement kinds in `neurontest.claims`, the perturbation kinds in
`neurontest.perturb`) register below, the same way a third-party kind would.
"""

from __future__ import annotations

import difflib

from neurontest.claims.ablation import AblationClaim
from neurontest.claims.activation import ActivationClaim
from neurontest.claims.attends import AttendsClaim
from neurontest.claims.base import Claim
from neurontest.claims.examples import ExamplesClaim
from neurontest.claims.logit_attribution import LogitAttributionClaim
from neurontest.claims.noise import NoiseClaim
from neurontest.claims.simplify import SimplifyClaim
from neurontest.claims.top_examples import TopExamplesClaim
from neurontest.perturb.adversarial import AdversarialClaim
from neurontest.perturb.invariant import InvariantClaim
from neurontest.perturb.necessary import NecessaryClaim
from neurontest.perturb.sufficient import SufficientClaim

CLAIM_KINDS: dict[str, type[Claim]] = {}


def register_claim(cls: type[Claim]) -> type[Claim]:
    """Register a claim kind under `cls.kind` (raises on a duplicate name)."""
    if cls.kind in CLAIM_KINDS:
        raise ValueError(f"claim kind {cls.kind!r} is already registered")
    CLAIM_KINDS[cls.kind] = cls
    return cls


def get_claim_class(kind: str) -> type[Claim]:
    """The class of a claim kind, or ValueError naming the closest known kind."""
    if kind not in CLAIM_KINDS:
        close = difflib.get_close_matches(kind, list(CLAIM_KINDS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known kinds: {', '.join(CLAIM_KINDS)}"
        raise ValueError(f"unknown claim kind {kind!r}; {hint}")
    return CLAIM_KINDS[kind]


for _cls in (ActivationClaim, ExamplesClaim, TopExamplesClaim, AblationClaim, NoiseClaim,
             SimplifyClaim, LogitAttributionClaim, InvariantClaim, NecessaryClaim, SufficientClaim,
             AdversarialClaim, AttendsClaim):
    register_claim(_cls)
