"""One deep neuron claim alone, then with three attention claims on heads of shallower layers,
each from an empty activation cache (converted model reused) at 8,000 corpus tokens: with one pass
over the corpus for every unit kind, the heads should cost little above the neuron claim
(issue 25's target: at most 1.3x). Prints both walls, the ratio and each run's phase line.

    python benchmarks/attention_one_pass.py [--tokens 8000] [--repeats 1]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

from neurontest.bench.suite import fresh_cache_dir, run_child, summary_line

HEADER = "corpus_tokens: {tokens}\nneurons:\n"
NEURON = """\
  - id: L26N1490
    fires_on: {tokens: [more, higher, greater, less, better, lower, smaller], case_sensitive: false}
    threshold: 6.5
    claims:
      - kind: activation
        f1: ">= 0.5"
"""
HEADS = """\
  - id: L16H0
    claims:
      - kind: attends
        to: previous
        mass: ">= 0.5"
      - kind: attends
        id: self
        to: self
        mass: "<= 0.5"
  - id: L18H8
    claims:
      - kind: attends
        to: first
        mass: ">= 0.5"
"""


def run(folder: Path, name: str, text: str) -> dict:
    path = folder / f"test_{name}.yaml"
    path.write_text(text)
    cache = fresh_cache_dir(folder)
    cmd = [sys.executable, "-m", "pytest", str(path), "-p", "no:cacheprovider",
           "--neurontest-report", "none", "-q"]
    return run_child(cmd, cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="nt-one-pass-"))
    header = HEADER.format(tokens=args.tokens)
    try:
        walls: dict[str, list[float]] = {"neuron": [], "neuron + 3 attends": []}
        for _ in range(args.repeats):
            for label, text in (("neuron", header + NEURON),
                                ("neuron + 3 attends", header + NEURON + HEADS)):
                result = run(folder, label.replace(" ", "").replace("+", "_"), text)
                if result["rc"] not in (0, 1):  # 1: a claim failed, which costs the same time
                    raise SystemExit(f"{label}: pytest exited {result['rc']}:\n{result['output'][-3000:]}")
                walls[label].append(result["seconds"])
                phase = [line for line in result["output"].splitlines() if line.startswith("time: ")]
                print(f"{label}: {result['seconds']:.1f} s ({summary_line(result['output'])}); "
                      f"{phase[-1] if phase else ''}")
        alone, both = (statistics.median(walls[k]) for k in walls)
        print(textwrap.dedent(f"""\
            {args.tokens} tokens, median of {args.repeats}: neuron alone {alone:.1f} s, with three
            attention claims {both:.1f} s: {both / alone:.2f}x (target <= 1.3x)"""))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
