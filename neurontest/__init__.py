"""neurontest: claims about individual neurons of transformer language models, as tests.

    from neurontest import Lab, NeuronRef
    lab = Lab.load()                          # embedded SmolLM2-135M + Wikipedia sample
    lab.activations(NeuronRef(0, 972))        # mined once, cached on disk

Names below are imported on first use: the pytest plugin imports this package in every pytest
run of an environment that has neurontest, so importing it must cost nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "NeuronRef": "neurontest.neuron",
    "Lab": "neurontest.lab",
    "load_model": "neurontest.models",
    "model_fingerprint": "neurontest.models",
    "load_corpus": "neurontest.corpus",
    "neuron_activations": "neurontest.activations",
    "activations_on_texts": "neurontest.readout",
    "top_examples": "neurontest.top_examples",
    "ablate": "neurontest.ablation",
    "noise_sensitivity": "neurontest.noise",
    "simplify": "neurontest.simplify",
    "logit_attribution": "neurontest.attribution",
    "optimize_prompts": "neurontest.optimize",
    "score_predicate": "neurontest.metrics",
    "inspect_neuron": "neurontest.inspect",
    "NeuronUnderTest": "neurontest.assertions",
    "planted_model": "neurontest.planted",
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'neurontest' has no attribute {name!r}")
