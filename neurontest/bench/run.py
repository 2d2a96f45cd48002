"""`neurontest bench`: the library's costs against the seed notebook's loops and this machine's floor.

    neurontest bench                    # everything (about 40 min on 2 CPU cores)
    neurontest bench --quick            # a smoke run of every section (a few minutes)
    neurontest bench --tokens 5000 --repeats 1 --skip suite,streaming

Each time is the median of `--repeats` runs; the runs of figures that are compared are
interleaved, so a change of machine load hits both sides. Peak memory is how far the process's
peak RSS rose above its RSS before the run (Linux `/proc/self/clear_refs`), or the child's
`ru_maxrss` for the pytest runs. Writes a table to stdout and JSON to `--json`.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import torch

from neurontest.bench import cases
from neurontest.bench.timing import Figure, figure, matmul_gflops
from neurontest.engine.models.loading import load_model

SECTIONS = ("machine", "mining", "latents", "noise", "simplify", "suite", "core", "streaming",
            "scaling")
def run(args: Any, say: Callable[[str], None],
        save: Callable[[dict[str, Any]], None] = lambda results: None) -> dict[str, Any]:
    """Run the selected sections; return the JSON-ready results (also passed to `save` after
    each section, so a long run that dies still leaves what it measured)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    skip = set(args.skip)
    figures: list[Figure] = []
    info: dict[str, Any] = {
        "cpus": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "load_at_start": os.getloadavg(), "tokens": args.tokens, "core_tokens": args.core_tokens,
        "repeats": args.repeats, "seed_repeats": args.seed_repeats,
    }
    started = time.perf_counter()
    if "machine" not in skip:
        runs = matmul_gflops(args.repeats)
        figures.append(figure("machine", "fp32 matmul 2048x2048 (GFLOP/s)", runs, note="GFLOP/s, not s"))
    model = None
    if not skip.issuperset({"mining", "latents", "noise", "simplify", "core", "streaming", "scaling"}):
        say("loading the embedded model")
        model = load_model()
    for section in ("mining", "latents", "noise", "simplify", "suite", "core", "streaming", "scaling"):
        if section in skip:
            continue
        say(f"section {section}")
        figures += getattr(cases, section)(model, args, say)
        save({"machine": {**info, "partial": True}, "figures": [asdict(f) for f in figures]})
    info["load_at_end"] = os.getloadavg()
    info["wall_seconds"] = time.perf_counter() - started
    return {"machine": info, "figures": [asdict(f) for f in figures]}


def format_table(figures: list[dict[str, Any]]) -> str:
    """A Markdown table of the figures."""
    head = "| section | figure | median | runs | peak RSS rise (MB) | ratio | target | met |"
    lines = [head, "|" + "---|" * 8]
    for f in figures:
        value = f"{f['seconds']:.1f}" if "GFLOP" in f["name"] else f"{f['seconds']:.3g} s"
        runs = ", ".join(f"{r:.3g}" for r in f["runs"])
        peak = "" if f["peak_mb"] is None else f"{f['peak_mb']:.0f}"
        ratio = "" if f["ratio"] is None else f"{f['ratio']:.3g}" + (f" ({f['note']})" if f["note"] else "")
        met = {True: "yes", False: "**no**", None: ""}[f["met"]]
        lines.append(f"| {f['section']} | {f['name']} | {value} | {runs} | {peak} | {ratio} | "
                     f"{f['target'] or ''} | {met} |")
    return "\n".join(lines)


def add_arguments(parser: Any) -> None:
    """The `neurontest bench` flags."""
    parser.add_argument("--tokens", type=int, default=20_000,
                        help="corpus tokens for the floor and the mining comparison (default 20000)")
    parser.add_argument("--core-tokens", type=int, default=100_000,
                        help="tokens of the core note; streaming uses 4x this (default 100000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; median (default 3)")
    parser.add_argument("--seed-repeats", type=int, default=1,
                        help="runs of the slow seed loops: mining the seed's way, simplifying 64 "
                        "tokens (default 1; each takes minutes)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2000/5000 tokens, 1 repeat, 20-token texts only, no suite")
    parser.add_argument("--skip", default="", help=f"comma-separated sections to skip: {','.join(SECTIONS)}")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    parser.add_argument("--suite", type=Path, default=Path("hypotheses"),
                        help="example suite to run cold and warm (default hypotheses/)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results.json"),
                        help="where to write the JSON results (default benchmarks/results.json)")


def main(args: Any, say: Callable[[str], None]) -> int:
    """Entry point of `neurontest bench` (after argument parsing)."""
    import json
    import shlex
    import sys

    args.skip = [s.strip() for s in args.skip.split(",") if s.strip()]
    unknown = [s for s in args.skip if s not in SECTIONS]
    if unknown or min(args.repeats, args.seed_repeats, args.tokens, args.core_tokens) < 1:
        say(f"bad arguments: unknown sections {unknown}" if unknown else "counts must be >= 1")
        return 2
    if args.quick:
        args.tokens, args.core_tokens, args.repeats = min(args.tokens, 2000), min(args.core_tokens, 5000), 1
        args.skip = sorted({*args.skip, "suite"})
    command = "neurontest bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])

    def save(results: dict[str, Any]) -> None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": command, **results}, indent=2) + "\n")

    results = run(args, say, save)
    save(results)
    print(format_table(results["figures"]))
    say(f"wrote {args.json}")
    return 0
