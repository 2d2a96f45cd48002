"""Child-process parts of `neurontest bench`: the example suite cold and warm, and the fixed
costs every pytest run pays (imports, model load, corpus, vocabulary).

They run in children so each starts cold in its own process and its peak RSS (`ru_maxrss` from
`os.wait4`) is its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from neurontest.engine.store.paths import CACHE_ENV, cache_root


def fresh_cache_dir(parent: Path, *, reuse_models: bool = True) -> Path:
    """A new, empty neurontest cache dir. With `reuse_models` its `models/` links to the
    converted models, so the activation (and corpus) caches start cold but the one-off model
    conversion is reused; without it the run starts as on a fresh machine."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="nt-bench-", dir=parent))
    shared = cache_root() / "models"
    if reuse_models and shared.exists():
        (folder / "models").symlink_to(shared.resolve())
    return folder


def run_child(cmd: list[str], cache_dir: Path, threads: int = 0) -> dict[str, Any]:
    """Run `cmd` with NEURONTEST_CACHE_DIR=cache_dir (and `threads` OpenMP threads if given);
    wall seconds, peak RSS (MB), exit code, output."""
    env = {**os.environ, CACHE_ENV: str(cache_dir)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)  # rusage of this child alone
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    peak = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return {"seconds": seconds, "peak_mb": peak, "rc": proc.returncode, "output": out}


def suite_command(suite: Path, report: Path) -> list[str]:
    """The example suite as a user runs it (`pytest hypotheses/ -q -p no:cacheprovider`)."""
    return [sys.executable, "-m", "pytest", str(suite), "-q", "-p", "no:cacheprovider",
            "--neurontest-report", str(report)]


def summary_line(output: str) -> str:
    """pytest's final `N passed, ... in Xs` line."""
    lines = [line.strip("= ") for line in output.splitlines() if " in " in line and "passed" in line]
    return lines[-1] if lines else (output.strip().splitlines() or ["(no output)"])[-1]


#: The phases of a cold run no suite can avoid: the model converted and loaded, the corpus
#: prepared, SAEs fitted, and one mining pass to the deepest layer read.
FLOOR_PHASES = ("conversion", "model load", "corpus", "SAE fits", "mining")


def phase_seconds(output: str) -> dict[str, float]:
    """Seconds per phase from the run's `time: ...` summary line (empty if there is none)."""
    import re

    lines = [line for line in output.splitlines() if line.startswith("time: ")]
    if not lines:
        return {}
    return {name: float(seconds.replace(",", ""))
            for name, seconds in re.findall(r"(?:^time: | · )([A-Za-z][A-Za-z ]*?) ([\d,.]+) s",
                                            lines[-1])}


def floor_seconds(output: str) -> tuple[float, int] | None:
    """(The run's floor in seconds, its mining passes) from its phase line, or None."""
    import re

    phases = phase_seconds(output)
    if "mining" not in phases:
        return None
    passes = re.search(r"mining [\d,.]+ s \((\d+) pass", output)
    return sum(phases.get(p, 0.0) for p in FLOOR_PHASES), int(passes[1]) if passes else 0


# Timed phases of a pytest run's fixed costs, in a fresh interpreter (printed as one JSON line).
_FIXED_COSTS = r"""
import json, time
t = {}
s = time.perf_counter()
import torch, transformers, transformer_lens.model_bridge
t["import torch + transformers + transformer_lens"] = time.perf_counter() - s
s = time.perf_counter()
import neurontest.plugin, neurontest.plugin.collect, neurontest.claims, neurontest.lab
t["import neurontest"] = time.perf_counter() - s
from neurontest.engine.models.loading import load_model, model_fingerprint
s = time.perf_counter(); model = load_model(); t["load model"] = time.perf_counter() - s
s = time.perf_counter(); model_fingerprint(model); t["model fingerprint"] = time.perf_counter() - s
from neurontest.engine.data.corpus import load_corpus
s = time.perf_counter(); corpus = load_corpus(); t["load corpus texts"] = time.perf_counter() - s
s = time.perf_counter(); corpus.tokenize(model.tokenizer, window=64, n_tokens=100_000, seed=0)
t["tokenize 100k-token sample"] = time.perf_counter() - s
from neurontest.claims.predicates import vocabulary
s = time.perf_counter(); vocabulary(model.tokenizer); t["vocabulary strings"] = time.perf_counter() - s
print("NT-FIXED " + json.dumps(t))
"""


def fixed_costs(cache_dir: Path, threads: int = 0) -> dict[str, float]:
    """Seconds of each fixed phase in a fresh interpreter using `cache_dir` (run it warm)."""
    result = run_child([sys.executable, "-c", _FIXED_COSTS], cache_dir, threads)
    for line in result["output"].splitlines():
        if line.startswith("NT-FIXED "):
            return json.loads(line[len("NT-FIXED "):])
    raise RuntimeError(f"fixed-cost probe failed (exit {result['rc']}): {result['output'][-2000:]}")


# Mining in a fresh interpreter: load, sample, mine; prints its figures as one JSON line.
_MINING = r"""
import json, sys, time
from neurontest.bench.timing import _status_kb, pick_neurons, peak_rss, sample
from neurontest.engine.run.activations import neuron_activations
from neurontest.engine.models.loading import load_model
model = load_model()
s = sample(model, int(sys.argv[1]))
refs = pick_neurons(5, int(sys.argv[2]), int(model.cfg.d_mlp))
neuron_activations(model, s.batch.select(list(range(4))), refs)  # pages the weights in
start_mb = (_status_kb("VmRSS") or 0) / 1024
with peak_rss() as mem:
    start = time.perf_counter()
    neuron_activations(model, s.batch, refs)
    seconds = time.perf_counter() - start
print("NT-MINING " + json.dumps({"mine_seconds": seconds, "n_tokens": s.n_tokens,
                                 "d_mlp": int(model.cfg.d_mlp), "mine_rise_mb": mem["mb"],
                                 "rss_before_mb": start_mb}))
"""


def mining_child(n_tokens: int, max_layer: int, cache_dir: Path, threads: int = 0) -> dict[str, Any]:
    """Mine 5 neurons in layers <= max_layer over `n_tokens` in a child: its figures and peak RSS."""
    result = run_child([sys.executable, "-c", _MINING, str(n_tokens), str(max_layer)], cache_dir, threads)
    for line in result["output"].splitlines():
        if line.startswith("NT-MINING "):
            return {**json.loads(line[len("NT-MINING "):]), "peak_mb": result["peak_mb"]}
    raise RuntimeError(f"mining child failed (exit {result['rc']}): {result['output'][-2000:]}")
