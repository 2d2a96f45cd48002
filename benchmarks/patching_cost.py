"""The cost of a `patching` claim over 20 counterfactual pairs on the embedded SmolLM2, in
forward-pass equivalents: its measured time over the time of one batched forward of the 20 clean
texts (so 3.0 means three forwards' worth per pair). docs/benchmarks.md records the figure.

    python benchmarks/patching_cost.py
"""
import statistics
import time

import torch

from neurontest.engine.units.head import HeadRef
from neurontest.engine.models.loading import load_model
from neurontest.engine.units.neuron import NeuronRef
from neurontest.engine.data.tokens import encode_texts
from neurontest.measure.patching import patch
from neurontest.measure.targets import Target

model = load_model()
days = [" Monday", " Tuesday", " Wednesday", " Thursday", " Friday"]
months = [" March", " April", " June", " July"]
clean, corrupt = [], []
for i, month in enumerate(months):
    for j, day in enumerate(days):
        clean.append(f"The meeting was moved to {3 + i + j}{month}")
        corrupt.append(f"The meeting was moved to {3 + i + j}{day}")
batch = encode_texts(model.tokenizer, clean)
assert batch.lengths.tolist() == encode_texts(model.tokenizer, corrupt).lengths.tolist()
positions = [[int(batch.lengths[i]) - 2] for i in range(len(clean))]  # the month (last) token
target = Target(answer=",", foil=" in")  # the cost does not depend on the target


def seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def forward() -> None:
    with torch.inference_mode():
        model(batch.tokens)


units = (NeuronRef(3, 1113), HeadRef(3, 0))
runs: dict[str, list[float]] = {"forward": [], **{u.short_id: [] for u in units}}
for repeat in range(6):  # interleaved, so a busy machine slows each alike; the first warms up
    for name, work in [("forward", forward), *[(u.short_id, lambda u=u: patch(
            model, [u], clean, corrupt, positions, target, batch_size=32)) for u in units]]:
        took = seconds(work)
        if repeat:
            runs[name].append(took)
base = statistics.median(runs["forward"])
print(f"{len(clean)} pairs of {int(batch.lengths.max())} tokens (BOS included); one batched forward "
      f"of the clean texts: {1000 * base:.1f} ms (median of 5)")
for unit in units:
    cost = statistics.median(runs[unit.short_id])
    print(f"patching {unit.short_id}: {1000 * cost:.1f} ms = {cost / base:.2f} forwards' worth per pair")
