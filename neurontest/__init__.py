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
    "NeuronRef": "neurontest.engine.units.neuron",
    "Lab": "neurontest.lab",
    "load_model": "neurontest.engine.models.loading",
    "model_fingerprint": "neurontest.engine.models.loading",
    "load_corpus": "neurontest.engine.data.corpus",
    "neuron_activations": "neurontest.engine.run.activations",
    "activations_on_texts": "neurontest.measure.readout",
    "top_examples": "neurontest.measure.top_examples",
    "ablate": "neurontest.measure.ablation",
    "noise_sensitivity": "neurontest.measure.noise",
    "simplify": "neurontest.measure.simplify",
    "logit_attribution": "neurontest.measure.attribution",
    "optimize_prompts": "neurontest.measure.optimize",
    "score_predicate": "neurontest.measure.metrics",
    "inspect_neuron": "neurontest.inspection",
    "explain_neuron": "neurontest.claims.explain",
    "NeuronUnderTest": "neurontest.plugin.assertions",
    "planted_model": "neurontest.engine.models.planted",
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'neurontest' has no attribute {name!r}")
