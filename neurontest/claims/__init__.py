"""Claims: what every claim kind shares, the measurement claim kinds, and the language they are
written in.

* `runner`: `ClaimRunner`, the one way a claim runs; `settings`: `RunSettings`, the run-wide
  settings passed down to every claim;
* `base`: bounds, measurements, results, the subject neuron, options; `tolerance`: baseline drift;
* `predicates`: what a claim says a neuron responds to; `marked`: `[[trigger]]` texts;
* one module per measurement kind (activation, examples, top_examples, ablation, noise, simplify,
  logit_attribution), and `evidence`/`messages`: what a failure shows.

May import: `neurontest.lab`, `neurontest.measure`, `neurontest.engine`, `neurontest.errors`.
The perturbation kinds live in `neurontest.perturb` (above this package); `neurontest.format.kinds`
registers every kind by its YAML name.
"""

from typing import Any

# Loaded on first use: the pytest plugin builds `settings.RunSettings` in every run, and that
# must not pay for the claim base's pydantic models.
__all__ = ["Bound", "Claim", "ClaimResult", "ClaimRunner", "Measurement", "RunSettings", "Subject",
           "Threshold"]
_WHERE = {"ClaimRunner": "neurontest.claims.runner", "RunSettings": "neurontest.claims.settings"}


def __getattr__(name: str) -> Any:
    import importlib

    if name not in __all__:
        raise AttributeError(f"module 'neurontest.claims' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE.get(name, "neurontest.claims.base")), name)
