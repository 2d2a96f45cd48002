"""Print the activation metrics of every activation claim in hypotheses/ as a Markdown table.

    python scripts/suite_metrics.py [hypotheses/]

Runs through the library (no pytest): the numbers behind docs/example-suite.md.
"""

import sys
from pathlib import Path
from neurontest.lab import Lab
from neurontest.spec import load_hypothesis_file
lab = Lab.load(progress=False)
print("| file | neuron | claim | fires_on | tau | precision | recall | f1 | auprc | pearson |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for path in sorted(Path(sys.argv[1] if len(sys.argv) > 1 else "hypotheses").glob("test_*.yaml")):
    spec = load_hypothesis_file(path)
    for entry in spec.neurons:
        for ce in entry.claims:
            if ce.kind != "activation": continue
            claim = entry.build(ce)
            r = claim.run(lab); m = r.metrics()
            tau = lab.tau(entry.neuron, claim.threshold())
            x = " (xfail)" if ce.xfail else ""
            print(f"| {path.name} | {entry.neuron} | {ce.name}{x} | {claim.predicate.describe()[:60]} | {tau:.3g} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['auprc']:.3f} | {m['pearson']:.3f} |")
