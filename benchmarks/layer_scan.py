"""A specificity claim's cost: mining one neuron of a 1,536-neuron layer over the corpus, alone and
with every neuron of its layer scored against a predicate in the same pass (issue 23's targets:
at most 1.2x the memory and 1.5x the time). Each run is a fresh child process, so its peak RSS is
its own; the model is loaded and the corpus tokenized before the timed pass.

    python benchmarks/layer_scan.py [--tokens 100000] [--layer 5] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from neurontest.bench.suite import fresh_cache_dir, run_child

_CHILD = r"""
import json, sys, time
from neurontest.bench.timing import peak_rss
from neurontest.claims.predicates import predicate_from_dict
from neurontest.engine.run.activations import neuron_activations
from neurontest.engine.run.layer_scan import LayerScan
from neurontest.engine.units.neuron import NeuronRef
from neurontest.lab import Lab
n_tokens, layer, scan = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "scan"
lab = Lab.load(n_tokens=n_tokens, progress=False, cache=False)
batch = lab.sample.batch
unit = NeuronRef(layer, 100)
units = [unit]
if scan:
    months = predicate_from_dict({"tokens": ["January", "February", "March", "April", "May",
                                             "June", "July", "August", "September", "October",
                                             "November", "December"]})
    units.append(LayerScan(unit, "months", 1.0).with_sources(lab.claimed(months), batch.mask))
neuron_activations(lab.model, batch.select(list(range(4))), [unit])  # pages the weights in
with peak_rss() as mem:
    start = time.perf_counter()
    neuron_activations(lab.model, batch, units)
    seconds = time.perf_counter() - start
print("NT-SCAN " + json.dumps({"seconds": seconds, "rise_mb": mem["mb"],
                               "tokens": int(batch.mask.sum())}))
"""


def child(n_tokens: int, layer: int, scan: bool, cache: Path) -> dict:
    result = run_child([sys.executable, "-c", _CHILD, str(n_tokens), str(layer),
                        "scan" if scan else "one"], cache)
    for line in result["output"].splitlines():
        if line.startswith("NT-SCAN "):
            return {**json.loads(line[len("NT-SCAN "):]), "peak_mb": result["peak_mb"]}
    raise SystemExit(f"child failed (exit {result['rc']}): {result['output'][-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--layer", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    cache = fresh_cache_dir(Path(tempfile.mkdtemp(prefix="nt-scan-")))
    runs: dict[str, list[dict]] = {"one neuron": [], "one neuron + layer scan": []}
    for _ in range(args.repeats):
        for label, scan in (("one neuron", False), ("one neuron + layer scan", True)):
            runs[label].append(child(args.tokens, args.layer, scan, cache))
            print(f"{label}: {runs[label][-1]}", flush=True)
    one, both = ({k: statistics.median(r[k] for r in runs[label]) for k in ("seconds", "peak_mb")}
                 for label in runs)
    print(f"layer {args.layer}, {runs['one neuron'][0]['tokens']:,} tokens, median of {args.repeats}: "
          f"time {both['seconds']:.1f} s vs {one['seconds']:.1f} s = "
          f"{both['seconds'] / one['seconds']:.2f}x (target <= 1.5x); peak RSS {both['peak_mb']:,.0f} "
          f"MB vs {one['peak_mb']:,.0f} MB = {both['peak_mb'] / one['peak_mb']:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
