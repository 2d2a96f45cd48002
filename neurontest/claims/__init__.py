"""Claims: what every claim kind shares, the measurement claim kinds, and the language they are
written in.

* `base`: bounds, measurements, results, the subject neuron, options; `tolerance`: baseline drift;
* `predicates`: what a claim says a neuron responds to; `marked`: `[[trigger]]` texts;
* one module per measurement kind (activation, examples, top_examples, ablation, noise, simplify,
  logit_attribution), and `evidence`/`messages`: what a failure shows.

May import: `neurontest.lab`, `neurontest.measure`, `neurontest.engine`, `neurontest.errors`.
The perturbation kinds live in `neurontest.perturb` (above this package); `neurontest.format.kinds`
registers every kind by its YAML name.
"""

from neurontest.claims.base import Bound, Claim, ClaimResult, Measurement, Subject, Threshold

__all__ = ["Bound", "Claim", "ClaimResult", "Measurement", "Subject", "Threshold"]
