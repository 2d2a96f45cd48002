"""Template strings such as "We met in [[{month}]] {year}": the `{slot}` names they use.

Kept free of Hypothesis: validating a `sufficient` claim's templates happens at collection, and
a run that selects no perturbation claim should not pay for importing Hypothesis. The causal
kinds' templated pairs use the same syntax, so it lives in `neurontest.claims.templates`.
"""

from __future__ import annotations

from neurontest.claims.templates import template_slots

__all__ = ["template_slots"]
