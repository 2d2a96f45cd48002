"""Print the metrics of every `activation` claim in a hypotheses folder as a Markdown table.

    python scripts/suite_metrics.py [hypotheses/]

Runs through the library, without pytest: the numbers behind docs/example-suite.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from neurontest.claims.runner import ClaimRunner
from neurontest.lab import Lab
from neurontest.format.spec import load_hypothesis_file

COLUMNS = ("precision", "recall", "f1", "auprc", "pearson")


def main(folder: str = "hypotheses") -> None:
    lab = Lab.load(progress=False)
    print("| file | neuron | claim | fires_on | tau | " + " | ".join(COLUMNS) + " |")
    print("|" + " --- |" * (5 + len(COLUMNS)))
    for path in sorted(Path(folder).glob("test_*.yaml")):
        for entry in load_hypothesis_file(path).neurons:
            for claim_entry in entry.claims:
                if claim_entry.kind != "activation":
                    continue
                claim = entry.build(claim_entry)
                metrics = ClaimRunner(lab).run(claim).metrics()
                tau = lab.tau(entry.neuron, claim.threshold())
                name = claim_entry.name + (" (xfail)" if claim_entry.xfail else "")
                values = " | ".join(f"{metrics[c]:.3f}" for c in COLUMNS)
                print(f"| {path.name} | {entry.neuron} | {name} | {claim.predicate.describe()[:60]} "
                      f"| {tau:.3g} | {values} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
