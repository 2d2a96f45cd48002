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

import gc
import os
import random
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from neurontest.neuron import NeuronRef

SECTIONS = ("machine", "mining", "noise", "simplify", "suite", "core", "streaming")
# A paragraph with numbers, cut to the benchmark's text lengths; L3N1113 fires inside numbers.
_TEXT = ("The town grew quickly after the railway arrived in the spring of 1871, and by the end of "
         "the century its mills employed more than four thousand workers, most of them recent "
         "arrivals from the countryside. A census taken in 1901 counted 23,418 residents, and the "
         "council responded by building two schools, a hospital and a covered market, all of which "
         "still stand today. The population reached 31,905 in 1921 and 40,217 in 1931")
TEXT_NEURON = NeuronRef(3, 1113)


@dataclass
class Figure:
    """One measured figure: median seconds over `runs`, and how it compares to `reference`."""

    section: str
    name: str
    seconds: float
    runs: list[float]
    peak_mb: float | None = None
    reference: str | None = None
    ratio: float | None = None  # seconds / reference seconds (or as `note` says)
    target: str | None = None
    met: bool | None = None
    note: str = ""
    load: float = field(default_factory=lambda: os.getloadavg()[0])


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


@contextmanager
def peak_rss() -> Iterator[dict[str, float | None]]:
    """Yields a dict whose `mb` is, afterwards, the rise of peak RSS over the RSS at entry."""
    box: dict[str, float | None] = {"mb": None}
    gc.collect()
    _trim_heap()
    try:  # "5" resets VmHWM to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
        base = _status_kb("VmRSS")
    except OSError:
        base = None
    yield box
    peak = _status_kb("VmHWM")
    if base is not None and peak is not None:
        box["mb"] = (peak - base) / 1024


def _trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc), so RSS counts live memory and a run's peak
    is not hidden inside memory an earlier run freed but the allocator kept."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure(
    fns: dict[str, Callable[[], Any]], repeats: int, counts: dict[str, int] | None = None
) -> dict[str, tuple[list[float], float | None]]:
    """Run each fn `repeats` times (or `counts[name]`), interleaved; per name: run times and
    median peak RSS rise."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    peaks: dict[str, list[float]] = {k: [] for k in fns}
    counts = counts or {}
    for round_ in range(max([repeats, *counts.values()])):
        for name, fn in fns.items():
            if round_ >= counts.get(name, repeats):
                continue
            with peak_rss() as mem:
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
            if mem["mb"] is not None:
                peaks[name].append(mem["mb"])
    return {k: (times[k], statistics.median(peaks[k]) if peaks[k] else None) for k in fns}


def figure(section: str, name: str, runs: list[float], peak: float | None = None, **kw: Any) -> Figure:
    return Figure(section, name, statistics.median(runs), [round(r, 4) for r in runs], peak, **kw)


def pick_neurons(n: int, max_layer: int, d_mlp: int) -> list[NeuronRef]:
    """`n` distinct seeded neurons in layers 0..max_layer, the first in `max_layer` (so every
    set stops at the same layer and the floor is the same)."""
    rng = random.Random(n)
    picked = [NeuronRef(max_layer, rng.randrange(d_mlp))]
    while len(picked) < n:
        ref = NeuronRef(rng.randint(0, max_layer), rng.randrange(d_mlp))
        if ref not in picked:
            picked.append(ref)
    return picked


def bare_forward(model: Any, batch: Any, stop_at_layer: int, batch_size: int = 32) -> None:
    """The floor: the forward alone (no hooks), batched and width-trimmed as the engine does."""
    import torch

    with torch.inference_mode():
        for start in range(0, len(batch), batch_size):
            width = int(batch.lengths[start : start + batch_size].max())
            model(batch.tokens[start : start + batch_size, :width], stop_at_layer=stop_at_layer)


def matmul_gflops(repeats: int, size: int = 2048) -> list[float]:
    """GFLOP/s of an fp32 `size`x`size` matmul, one value per repeat (best of 5 calls each)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up: first call pays thread-pool start
    out = []
    for _ in range(repeats):
        best = min(_timed(lambda: a @ b) for _ in range(5))
        out.append(2 * size**3 / best / 1e9)
    return out


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def text_of(tokenizer: Any, n_tokens: int) -> str:
    """A text of about `n_tokens` tokens (a prefix of the benchmark paragraph)."""
    ids = tokenizer(_TEXT, add_special_tokens=False)["input_ids"][:n_tokens]
    return tokenizer.decode(ids)


def sample(model: Any, n_tokens: int) -> Any:
    """The embedded corpus cut into 64-token windows, `n_tokens` real tokens (the plugin's way)."""
    from neurontest.corpus import load_corpus

    return load_corpus().tokenize(model.tokenizer, window=64, n_tokens=n_tokens, seed=0)


def run(args: Any, say: Callable[[str], None],
        save: Callable[[dict[str, Any]], None] = lambda results: None) -> dict[str, Any]:
    """Run the selected sections; return the JSON-ready results (also passed to `save` after
    each section, so a long run that dies still leaves what it measured)."""
    import torch

    from neurontest import bench_cases

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
    if not skip.issuperset({"mining", "noise", "simplify", "core", "streaming"}):
        from neurontest.models import load_model

        say("loading the embedded model")
        model = load_model()
    for section in ("mining", "noise", "simplify", "suite", "core", "streaming"):
        if section in skip:
            continue
        say(f"section {section}")
        figures += getattr(bench_cases, section)(model, args, say)
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
