"""How `neurontest bench` measures: figures (median of interleaved runs), peak RSS, the bare
forward floor, and the sample texts and neurons every section uses."""

from __future__ import annotations

import gc
import os
import random
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from neurontest.engine.data.corpus import load_corpus
from neurontest.engine.units.neuron import NeuronRef

# A paragraph with numbers, cut to the benchmark's text lengths; L3N1113 fires inside numbers.
_TEXT = ("The town grew quickly after the railway arrived in the spring of 1871, and by the end of "
         "the century its mills employed more than four thousand workers, most of them recent "
         "arrivals from the countryside. A census taken in 1901 counted 23,418 residents, and the "
         "council responded by building two schools, a hospital and a covered market, all of which "
         "still stand today. The population reached 31,905 in 1921 and 40,217 in 1931")
TEXT_NEURON = NeuronRef(3, 1113)
# A neuron in the last third (a comparative-words neuron of hypotheses/test_deep_layers.yaml):
# the speed-up over the seed's loops shrinks with depth, as every variant runs more layers.
DEEP_NEURON = NeuronRef(26, 1490)
DEEP_TOKENS = 20


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
    with torch.inference_mode():
        for start in range(0, len(batch), batch_size):
            width = int(batch.lengths[start : start + batch_size].max())
            model(batch.tokens[start : start + batch_size, :width], stop_at_layer=stop_at_layer)


def matmul_gflops(repeats: int, size: int = 2048) -> list[float]:
    """GFLOP/s of an fp32 `size`x`size` matmul, one value per repeat (best of 5 calls each)."""
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
    return load_corpus().tokenize(model.tokenizer, window=64, n_tokens=n_tokens, seed=0)
