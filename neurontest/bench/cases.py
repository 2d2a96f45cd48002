"""The sections of `neurontest bench`: each takes the model and the parsed flags and returns its
figures (see neurontest/bench/run.py for how figures are measured and reported)."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from neurontest.bench.seed import seed_mine, seed_noise, seed_simplify
from neurontest.bench.suite import (
    fixed_costs,
    floor_seconds,
    fresh_cache_dir,
    mining_child,
    run_child,
    suite_command,
    summary_line,
)
from neurontest.bench.timing import (
    DEEP_NEURON,
    DEEP_TOKENS,
    TEXT_NEURON,
    Figure,
    bare_forward,
    figure,
    measure,
    pick_neurons,
    sample,
    text_of,
)
from neurontest.engine.models.loading import model_fingerprint
from neurontest.engine.run.activation_cache import mine
from neurontest.engine.run.activations import neuron_activations
from neurontest.engine.run.executors.ray_pool import RayExecutor
from neurontest.engine.units.sae_latent import Sae
from neurontest.measure.noise import noise_sensitivity
from neurontest.measure.simplify import simplify as nt_simplify

Say = Callable[[str], None]
MAX_LAYER = 5  # "N neurons in layers <= 5": every set includes one in layer 5


def mining(model: Any, args: Any, say: Say) -> list[Figure]:
    """The floor, neurontest's engine for N = 1, 10, 100 and the seed's way, on the same tokens."""
    batch = sample(model, args.tokens).batch
    n_tok = int(batch.mask.sum())
    sets = {n: pick_neurons(n, MAX_LAYER, int(model.cfg.d_mlp)) for n in (1, 10, 100)}
    stop = MAX_LAYER + 1
    bare_forward(model, batch.select(list(range(min(8, len(batch))))), stop)  # warm-up
    fns: dict[str, Callable[[], Any]] = {"floor": lambda: bare_forward(model, batch, stop)}
    for n, refs in sets.items():
        fns[f"n{n}"] = lambda refs=refs: neuron_activations(model, batch, refs)
    say(f"mining: floor and engine over {n_tok} tokens")
    res = measure(fns, args.repeats)
    floor = figure("mining", f"floor: bare forward, layers 0-{MAX_LAYER}, {n_tok} tokens", *res["floor"])
    out = [floor]
    for n in sets:
        f = figure("mining", f"neurontest engine, {n} neuron(s) in layers <= {MAX_LAYER}", *res[f"n{n}"],
                   reference=floor.name, target="<= 1.2x floor", note="x floor")
        f.ratio = f.seconds / floor.seconds
        f.met = f.ratio <= 1.2
        out.append(f)
    say("mining: the seed's way (slow)")
    seed_res = measure({f"n{n}": lambda refs=refs: seed_mine(model, batch, refs) for n, refs in sets.items()},
                       args.seed_repeats)
    # Same numbers either way: the seed's columns against the engine's, on real tokens.
    check = sets[10]
    ours, theirs = neuron_activations(model, batch, check), seed_mine(model, batch, check)
    diff = max(float((ours[r] - theirs[r])[batch.mask].abs().max()) for r in check)
    for n, engine in zip(sets, out[1:]):
        f = figure("mining", f"seed way (run_with_cache, whole layers), N={n}", *seed_res[f"n{n}"],
                   reference=engine.name, note="x slower than neurontest")
        f.ratio = f.seconds / engine.seconds
        out.append(f)
    out[-1].note += f"; max |seed - neurontest| = {diff:.1e}"
    return out


def _versus(section: str, seed_fn: Callable[[], Any], ours: dict[str, Callable[[], Any]],
            n_tokens: int, args: Any, target: str | None, seed_runs: int, where: str = "") -> list[Figure]:
    """Seed loop against neurontest variants on one text; ratio = seed seconds / ours.
    `where` names a neuron other than the layer-3 one in the figures' names."""
    for fn in ours.values():
        fn()  # warm-up (and the first call's lazy allocations)
    res = measure({"seed": seed_fn, **ours}, args.repeats, {"seed": seed_runs})
    seed = figure(section, f"seed loop, {n_tokens} tokens{where}", *res["seed"])
    out = [seed]
    for i, name in enumerate(ours):
        f = figure(section, f"neurontest {name}, {n_tokens} tokens{where}", *res[name], reference=seed.name,
                   note="x faster than seed", target=target if i == 0 else None)
        f.ratio = seed.seconds / f.seconds
        out.append(f)
    return out


def _lengths(args: Any) -> tuple[int, ...]:
    return (20,) if args.quick else (20, 64)


def _judge(figures: list[Figure]) -> list[Figure]:
    """>= 5x at 20 tokens, and a bigger speed-up at 64 than at 20."""
    firsts = [f for f in figures if f.target]
    for f in firsts:
        f.met = f.ratio is not None and f.ratio >= 5 and (f is firsts[0] or f.ratio > firsts[0].ratio)
    return figures


def noise(model: Any, args: Any, say: Say) -> list[Figure]:
    """Noise sensitivity of a layer-3 neuron: the seed's per-position loop against one batch."""
    out: list[Figure] = []
    for n in _lengths(args):
        text = text_of(model.tokenizer, n)
        say(f"noise: {n} tokens")
        ours = {"draws=1 (same work)": lambda t=text: noise_sensitivity(model, TEXT_NEURON, t, draws=1),
                "draws=8 (default)": lambda t=text: noise_sensitivity(model, TEXT_NEURON, t)}
        target = ">= 5x" if n == 20 else "> speed-up at 20"
        out += _versus("noise", lambda t=text: seed_noise(model, TEXT_NEURON, t), ours, n, args, target,
                       args.repeats)
    out = _judge(out)
    text = text_of(model.tokenizer, DEEP_TOKENS)
    say(f"noise: {DEEP_TOKENS} tokens, deep neuron {DEEP_NEURON}")
    ours = {"draws=1 (same work)": lambda: noise_sensitivity(model, DEEP_NEURON, text, draws=1),
            "draws=8 (default)": lambda: noise_sensitivity(model, DEEP_NEURON, text)}
    return out + _versus("noise", lambda: seed_noise(model, DEEP_NEURON, text), ours, DEEP_TOKENS, args,
                         None, args.repeats, where=f", deep neuron {DEEP_NEURON}")


def simplify(model: Any, args: Any, say: Say) -> list[Figure]:
    """Iterative simplification: the seed's one-full-forward-per-candidate against batched steps."""
    out: list[Figure] = []
    for n in _lengths(args):
        text = text_of(model.tokenizer, n)
        say(f"simplify: {n} tokens")
        target = ">= 5x" if n == 20 else "> speed-up at 20"
        ours = {"simplify": lambda t=text: nt_simplify(model, TEXT_NEURON, t)}
        # The seed's simplification of 64 tokens is ~2,100 full-model forwards: --seed-repeats.
        runs = args.repeats if n <= 20 else args.seed_repeats
        out += _versus("simplify", lambda t=text: seed_simplify(model, TEXT_NEURON, t), ours, n, args, target,
                       runs)
    out = _judge(out)
    text = text_of(model.tokenizer, DEEP_TOKENS)
    say(f"simplify: {DEEP_TOKENS} tokens, deep neuron {DEEP_NEURON}")
    return out + _versus("simplify", lambda: seed_simplify(model, DEEP_NEURON, text),
                         {"simplify": lambda: nt_simplify(model, DEEP_NEURON, text)}, DEEP_TOKENS, args,
                         None, args.repeats, where=f", deep neuron {DEEP_NEURON}")


def suite(model: Any, args: Any, say: Say) -> list[Figure]:
    """The example suite in a child pytest: first run (empty cache dir, as on a fresh machine:
    converts the model), cold (fresh activation and corpus caches, converted model reused), warm
    (the cold run's caches: claim results remembered), then rerun (activations and corpus cached,
    remembered results deleted, so every claim runs on the model, as after a code change)."""
    if not args.suite.exists():
        say(f"suite: {args.suite} not found; skipped")
        return []
    parent = Path(tempfile.mkdtemp(prefix="nt-bench-suite-"))
    rerun = "warm, claims rerun"
    runs: dict[str, list[dict[str, Any]]] = {"first run": [], "cold": [], "warm": [], rerun: []}
    fixed: list[dict[str, float]] = []
    try:
        for r in range(args.repeats):
            empty = fresh_cache_dir(parent, reuse_models=False)
            folder = fresh_cache_dir(parent)
            for phase, where in (("first run", empty), ("cold", folder), ("warm", folder),
                                 (rerun, folder)):
                say(f"suite: run {r + 1}/{args.repeats}, {phase}")
                if phase == rerun:
                    shutil.rmtree(where / "results", ignore_errors=True)
                runs[phase].append(run_child(suite_command(args.suite, where / "report.html"), where,
                                             args.threads))
            fixed.append(fixed_costs(folder, args.threads))
            shutil.rmtree(empty, ignore_errors=True)
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    out = []
    for phase, results in runs.items():
        peak = statistics.median(x["peak_mb"] for x in results)
        failed = [x for x in results if x["rc"] != 0]
        note = summary_line(results[-1]["output"]) + (f"; {len(failed)} run(s) exited non-zero" if failed else "")
        out.append(figure("suite", f"example suite, {phase} (child peak RSS)", [x["seconds"] for x in results],
                          peak, note=note))
    first, cold, warm, again = out
    floors = [floor_seconds(x["output"]) for x in runs["first run"]]
    if all(floors):
        # The floor from the run's own phase line: conversion, model load, corpus, SAE fits and
        # its mining pass(es); a second pass over the corpus would be time above it.
        ratios = [x["seconds"] / f[0] for x, f in zip(runs["first run"], floors)]
        passes = floors[-1][1]
        out.append(Figure("suite", "example suite, first run: ratio to its floor",
                          statistics.median(f[0] for f in floors), [round(f[0], 2) for f in floors],
                          ratio=statistics.median(ratios), target="<= 1.2x", met=statistics.median(ratios) <= 1.2,
                          note=f"x floor (conversion + model load + corpus + SAE fits + {passes} "
                               f"mining pass{'es' if passes != 1 else ''}); wall {first.seconds:,.0f} s"))
    again.reference, again.ratio, again.note = cold.name, again.seconds / cold.seconds, f"x cold; {again.note}"
    warm.reference, warm.target = cold.name, "<= 0.15x cold"
    warm.ratio = warm.seconds / cold.seconds
    warm.met = warm.ratio <= 0.15
    warm.note = f"x cold ({warm.seconds / first.seconds:.3g}x the first run); {warm.note}"
    for phase in fixed[0]:
        out.append(figure("suite", f"fixed cost (warm caches): {phase}", [f[phase] for f in fixed]))
    return out


def core(model: Any, args: Any, say: Say) -> list[Figure]:
    """The core note: mining 5 neurons in layers <= 5, cold (nothing on disk) and warm (disk cache)."""
    s = sample(model, args.core_tokens)
    refs = pick_neurons(5, MAX_LAYER, int(model.cfg.d_mlp))
    parent = Path(tempfile.mkdtemp(prefix="nt-bench-core-"))
    folders: list[Path] = []

    def run(cold: bool) -> None:
        if cold:
            folders.append(Path(tempfile.mkdtemp(dir=parent)))
        mine(model, s.batch, refs, model_key=model_fingerprint(model), corpus_key=s.fingerprint,
             cache=folders[-1], progress=False)

    say(f"core: 5 neurons over {s.n_tokens} tokens, cold and warm")
    try:
        res = measure({"cold": lambda: run(True), "warm": lambda: run(False)}, args.repeats)
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    cold = figure("core", f"mine 5 neurons (layers <= {MAX_LAYER}), {s.n_tokens} tokens, cold", *res["cold"])
    warm = figure("core", f"mine 5 neurons (layers <= {MAX_LAYER}), {s.n_tokens} tokens, warm (disk cache)",
                  *res["warm"], reference=cold.name, note="x cold")
    warm.ratio = warm.seconds / cold.seconds
    return [cold, warm]


def streaming(model: Any, args: Any, say: Say) -> list[Figure]:
    """Mining 5 neurons over 1x and 4x `--core-tokens`, each in a fresh child process: the peak
    RSS rise while mining should stay flat as the corpus grows, not grow with d_mlp x tokens.

    Children, because in a long-lived process the model's memory-mapped weights may have been
    paged out, and paging them back in would count as a rise."""
    out: list[Figure] = []
    parent = Path(tempfile.mkdtemp(prefix="nt-bench-streaming-"))
    try:
        for k in (1, 4):
            say(f"streaming: {k}x = {k * args.core_tokens} tokens")
            result = mining_child(k * args.core_tokens, MAX_LAYER, fresh_cache_dir(parent), args.threads)
            d_mlp, n_tokens = result["d_mlp"], result["n_tokens"]
            f = figure("streaming", f"mine 5 neurons, {k}x = {n_tokens} tokens (peak RSS rise while "
                       "mining, 1 run)", [result["mine_seconds"]], result["mine_rise_mb"],
                       note=f"results {5 * n_tokens * 4 / 2**20:.0f} MB; one whole layer would be "
                            f"{d_mlp * n_tokens * 4 / 2**20:.0f} MB; RSS before mining (model, corpus) "
                            f"{result['rss_before_mb']:.0f} MB")
            out.append(f)
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    one, four = out
    four.reference, four.ratio, four.target = one.name, four.peak_mb / one.peak_mb, "peak <= 1.1x the 1x peak"
    four.met = four.ratio <= 1.1
    four.note = f"x 1x peak; {four.note}"
    return out


def scaling(model: Any, args: Any, say: Say) -> list[Figure]:
    """Mining on a local Ray pool of 1 and 2 actors (1 thread each) against this process with 1
    thread and with torch's default threads, on the same tokens and 10 neurons; and Ray's
    overhead per shard. Skipped (no figures) without Ray."""
    try:
        import ray
    except ImportError:
        say("scaling: skipped, Ray is not installed (pip install 'neurontest[ray]')")
        return []

    batch = sample(model, args.tokens).batch
    n_tok = int(batch.mask.sum())
    refs = pick_neurons(10, MAX_LAYER, int(model.cfg.d_mlp))
    default_threads = torch.get_num_threads()

    def local(threads: int) -> Callable[[], Any]:
        def run() -> Any:
            torch.set_num_threads(threads)
            try:
                return neuron_activations(model, batch, refs)
            finally:
                torch.set_num_threads(default_threads)
        return run

    say(f"scaling: local mining over {n_tok} tokens, 1 and {default_threads} thread(s)")
    res = measure({"one": local(1), "all": local(default_threads)}, args.repeats)
    one = figure("scaling", f"local, 1 thread, 10 neurons, {n_tok} tokens", *res["one"],
                 note=f"{n_tok / statistics.median(res['one'][0]):.0f} tok/s")
    out = [one, figure("scaling", f"local, {default_threads} threads", *res["all"], reference=one.name,
                       note=f"{n_tok / statistics.median(res['all'][0]):.0f} tok/s")]
    expected = local(1)()
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, log_to_driver=False, logging_level="WARNING")
    try:
        for actors in (1, 2):
            pool = RayExecutor(actors=actors)
            try:
                say(f"scaling: Ray pool of {actors} actor(s), 1 thread each")
                out.append(figure("scaling", f"Ray pool start-up, {actors} actor(s) (model load)",
                                  [_seconds(lambda: pool.pool(model))]))
                overheads: list[float] = []

                def mine_on_pool() -> Any:
                    got = pool.activations(model, batch, refs)
                    overheads.append(pool.last_pass.overhead_per_shard)
                    return got

                got = mine_on_pool()  # warm-up, and the check that it equals local mining
                same = all(torch.equal(got[r], expected[r]) for r in refs)
                overheads.clear()
                res = measure({"ray": mine_on_pool}, args.repeats)
                f = figure("scaling", f"Ray, {actors} actor(s) x 1 thread, {pool.last_pass.shards} "
                           "shards", *res["ray"], reference=one.name,
                           note=f"x local 1-thread speed; {n_tok / statistics.median(res['ray'][0]):.0f} "
                           f"tok/s; equal to local: {same}")
                f.ratio = one.seconds / f.seconds
                out.append(f)
                out.append(figure("scaling", f"Ray overhead per shard, {actors} actor(s)", overheads,
                                  note=f"{pool.last_pass.bytes_in // pool.last_pass.shards} B in, "
                                  f"{pool.last_pass.bytes_out // pool.last_pass.shards} B out per shard"))
            finally:
                pool.close()
    finally:
        if started:
            ray.shutdown()
    return out


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


SAE_LAYER = 3  # the SAE reads blocks.3.hook_mlp_out
SAE_EXPANSION = 8  # d_sae = 8 x d_model (4608 on SmolLM2), a common small width


def latents(model: Any, args: Any, say: Say) -> list[Figure]:
    """Mining N latents of one SAE (ReLU: the encoder restricted to their columns; TopK: every
    pre-activation, to find the k-th) against the bare forward to the SAE's layer.

    The SAE has seeded random weights in the SAELens layout: the cost depends on the shapes and the
    activation function, not on what the latents mean."""
    import random



    batch = sample(model, args.tokens).batch
    n_tok = int(batch.mask.sum())
    d_model = int(model.cfg.d_model)
    d_sae = SAE_EXPANSION * d_model
    gen = torch.Generator().manual_seed(0)
    hook = f"blocks.{SAE_LAYER}.hook_mlp_out"
    weights = {"W_enc": torch.randn(d_model, d_sae, generator=gen) / d_model ** 0.5,
               "b_enc": torch.zeros(d_sae),
               "W_dec": torch.randn(d_sae, d_model, generator=gen) / d_model ** 0.5,
               "b_dec": torch.zeros(d_model)}
    relu = Sae("bench-relu", "bench", hook, hook, "relu", **weights)
    topk = Sae("bench-topk", "bench", hook, hook, "topk", k=32, **weights)
    rng = random.Random(0)
    sets = {n: rng.sample(range(d_sae), n) for n in (1, 10, 100)}
    stop = SAE_LAYER + 1
    bare_forward(model, batch.select(list(range(min(8, len(batch))))), stop)  # warm-up
    fns: dict[str, Callable[[], Any]] = {"floor": lambda: bare_forward(model, batch, stop)}
    for n, cols in sets.items():
        fns[f"relu{n}"] = lambda cols=cols: neuron_activations(model, batch, [relu.latent(c) for c in cols])
    fns["topk100"] = lambda: neuron_activations(model, batch, [topk.latent(c) for c in sets[100]])
    say(f"latents: floor and SAE latents over {n_tok} tokens")
    res = measure(fns, args.repeats)
    floor = figure("latents", f"floor: bare forward, layers 0-{SAE_LAYER}, {n_tok} tokens", *res["floor"])
    out = [floor]
    for name, label, target in [*((f"relu{n}", f"{n} ReLU SAE latent(s), d_sae {d_sae}", 1.3) for n in sets),
                                ("topk100", f"100 TopK (k=32) SAE latents, d_sae {d_sae}", None)]:
        f = figure("latents", label, *res[name], reference=floor.name,
                   target="<= 1.3x floor" if target else None, note="x floor")
        f.ratio = f.seconds / floor.seconds
        f.met = None if target is None else f.ratio <= target
        out.append(f)
    return out
