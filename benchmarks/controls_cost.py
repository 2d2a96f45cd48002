"""The cost of `control: {units: 32}` on an ablation claim: hypotheses/test_deep_layers.yaml's
L24N917 claim (8 texts, target " than") on the embedded SmolLM2-135M, plain and with 32 random
same-layer neurons as controls (docs/benchmarks.md).

    PYTHONPATH=$PWD python benchmarks/controls_cost.py
"""
import statistics
import time

import torch

from neurontest.claims.ablation import AblationClaim
from neurontest.claims.base import Subject
from neurontest.engine.models.loading import load_model
from neurontest.engine.units.neuron import NeuronRef
from neurontest.lab import CorpusOptions, Lab

torch.set_num_threads(2)
TEXTS = ["Prices this year were [[higher]] than last year.", "The new bridge is [[more]] expensive than the old one.",
         "The river is [[longer]] than the canal.", "Her second book was [[better]] than her first.",
         "The town is [[smaller]] than the city.", "Rents are [[lower]] than they were.",
         "He would [[rather]] walk than drive.", "The hill is [[greater]] in height than the tower."]
PLAIN = {"texts": TEXTS, "target": " than", "effect": "<= -1.0", "kl": ">= 0.25", "confidence": 0.95}

lab = Lab(load_model(None), CorpusOptions(None), cache=False, progress=False)
subject = Subject(NeuronRef(24, 917), None)


def seconds(options: dict, runs: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        claim = AblationClaim(subject, options)
        start = time.perf_counter()
        result = claim.run(lab)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


seconds(PLAIN, runs=1)  # warm-up
plain, _ = seconds(PLAIN)
controlled, result = seconds(PLAIN | {"control": {"units": 32, "seed": 0}})
print(f"torch threads {torch.get_num_threads()}, median of 3 runs")
print(f"plain claim:              {plain:.2f} s")
print(f"with 32 controls:         {controlled:.2f} s  ({controlled / plain:.1f}x)")
print("  " + "; ".join(f"{k} {v:.3g}" for k, v in result.metrics().items()
                       if k in ("effect", "percentile", "p_value", "control_median", "control_min")))
