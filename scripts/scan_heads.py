"""Scan the embedded SmolLM2's attention heads for previous-token, BOS-sink, duplicate-token and
induction heads over a slice of the suite's corpus sample; print the best heads per pattern.

    PYTHONPATH=. python scripts/scan_heads.py --rows 120 --top 5
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    import torch

    from neurontest.lab import Lab
    from neurontest.measure.heads import PATTERNS, scan_heads, top_heads

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=120, help="corpus windows scanned (64 tokens each)")
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args()
    lab = Lab.load()
    batch = lab.sample.batch.select(torch.arange(min(args.rows, len(lab.sample.batch))))
    started = time.perf_counter()
    scores = scan_heads(lab.model, batch)
    print(f"{len(batch)} windows, {int(batch.mask.sum())} tokens, "
          f"{time.perf_counter() - started:.0f} s")
    for pattern in PATTERNS:
        best = top_heads(scores, pattern, args.top)
        print(f"{pattern} ({best[0].queries} queries): "
              + ", ".join(f"{s.id} {s.mass:.3f}" for s in best))


if __name__ == "__main__":
    main()
