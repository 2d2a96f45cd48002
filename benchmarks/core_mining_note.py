"""Cold and warm mining of 5 neurons in layers <= 5 over the 100k-token sample (docs/benchmarks.md).

    python benchmarks/core_mining_note.py
"""
import os, tempfile, time, subprocess, sys
from pathlib import Path
# A fresh activation cache that reuses the converted model: cold = no cached activations.
root = Path(tempfile.mkdtemp())
(root / "models").symlink_to(Path.home() / ".cache/neurontest/models")
os.environ["NEURONTEST_CACHE_DIR"] = str(root)
from neurontest.lab import Lab
from neurontest.engine.units.neuron import NeuronRef
neurons = [NeuronRef(0, 972), NeuronRef(1, 100), NeuronRef(2, 273), NeuronRef(3, 1113), NeuronRef(5, 855)]
lab = Lab.load(progress=False)
_ = lab.sample  # tokenize first: time the mining alone
t = time.perf_counter(); lab.prepare(neurons); cold = time.perf_counter() - t
lab2 = Lab(lab.model, lab.corpus_options, progress=False); _ = lab2.sample
t = time.perf_counter(); lab2.prepare(neurons); warm = time.perf_counter() - t
print(f"tokens {int(lab.sample.batch.mask.sum())}: cold {cold:.1f} s, warm {warm:.3f} s; load {os.getloadavg()[0]:.1f}")
