"""Claim kinds: one module each, registered by YAML name in `registry`."""

from neurontest.claims.ablation import AblationClaim
from neurontest.claims.activation import ActivationClaim
from neurontest.claims.base import Bound, Claim, ClaimResult, Measurement, Subject, Threshold
from neurontest.claims.examples import ExamplesClaim
from neurontest.claims.logit_attribution import LogitAttributionClaim
from neurontest.claims.noise import NoiseClaim
from neurontest.claims.registry import CLAIM_KINDS, get_claim_class, register_claim
from neurontest.claims.simplify import SimplifyClaim
from neurontest.claims.top_examples import TopExamplesClaim
from neurontest.perturb.adversarial import AdversarialClaim
from neurontest.perturb.invariant import InvariantClaim
from neurontest.perturb.necessary import NecessaryClaim
from neurontest.perturb.sufficient import SufficientClaim

for _cls in (ActivationClaim, ExamplesClaim, TopExamplesClaim, AblationClaim, NoiseClaim,
             SimplifyClaim, LogitAttributionClaim, InvariantClaim, NecessaryClaim, SufficientClaim,
             AdversarialClaim):
    register_claim(_cls)

__all__ = ["Bound", "CLAIM_KINDS", "Claim", "ClaimResult", "Measurement", "Subject", "Threshold",
           "get_claim_class", "register_claim"]
