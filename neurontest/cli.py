
"""The `neurontest` command: `inspect`, `schema`, `bench` and `fit-sae`.

`inspect` a neuron (HTML page + draft hypothesis), print the `schema`, `bench` the library, `fit-sae` a sparse autoencoder:

    neurontest inspect L3N1234 --corpus-tokens 20000 > test_l3n1234.yaml
    neurontest schema > neurontest/format/hypothesis.schema.json
    neurontest bench --quick            # timings against the seed's loops (docs/benchmarks.md)
    neurontest fit-sae                  # a TopK SAE on layer 4's MLP output, cached (SAELens layout)

Progress goes to stderr so stdout stays a clean YAML or JSON document.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence


def _say(message: str) -> None:
    print(f"neurontest: {message}", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="neurontest",
        description="Look at neurons of a transformer LM before claiming anything about them:\n"
                    "`inspect` a neuron (HTML page + draft hypothesis file), print the hypothesis\n"
                    "file `schema`, `bench` the library against the seed's loops. The claims\n"
                    "themselves run under pytest: `pytest hypotheses/`.",
        epilog="examples:\n"
               "  neurontest inspect L0N972 > test_l0n972.yaml   # page in reports/inspect-L0N972.html\n"
               "  neurontest schema > hypothesis.schema.json\n"
               "  neurontest bench --quick                       # docs/benchmarks.md\n"
               "'neurontest COMMAND --help' lists a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    inspect = sub.add_parser("inspect", help="show a neuron's examples, histogram and logit "
                             "attribution as HTML; print a draft hypothesis file")
    inspect.add_argument("neuron", help="unit: a neuron (L3N1234), an attention head (L5H3) or an "
                                        "SAE latent (<sae folder or name>#<index>)")
    inspect.add_argument("--model", default=None,
                         help="model name, hub id or local folder (default: embedded smollm2-135m)")
    inspect.add_argument("--corpus", default=None, help="corpus spec (default: wiki-sample)")
    inspect.add_argument("--corpus-tokens", type=int, default=100_000,
                         help="tokens sampled from the corpus (default 100000)")
    inspect.add_argument("--k", type=int, default=12, help="top and random examples to show (default 12)")
    inspect.add_argument("--out", type=Path, default=None,
                         help="HTML page to write (default reports/inspect-<neuron>.html)")
    inspect.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    inspect.set_defaults(func=_inspect)

    schema = sub.add_parser("schema", help="print the JSON Schema of hypothesis files")
    schema.set_defaults(func=_schema)

    bench = sub.add_parser("bench", help="time neurontest against the seed's loops and the "
                           "machine's floor; print a table, write benchmarks/results.json")
    from neurontest.bench.run import add_arguments  # stdlib-only at import: the CLI stays fast

    add_arguments(bench)
    bench.set_defaults(func=_bench)

    fit = sub.add_parser("fit-sae", help="fit a TopK SAE to one layer's MLP output of the embedded "
                         "model (SAELens folder layout); print its folder")
    fit.add_argument("name", nargs="?", default="smollm2-135m/topk-mlp-out-L4",
                     help="a named SAE, fitted once into the neurontest cache (default "
                          "smollm2-135m/topk-mlp-out-L4); ignored with --out")
    fit.add_argument("--out", type=Path, default=None,
                     help="fit with the options below into this new folder instead")
    fit.add_argument("--layer", type=int, default=4, help="layer whose hook_mlp_out is fitted (default 4)")
    fit.add_argument("--d-sae", type=int, default=2048, help="latents (default 2048)")
    fit.add_argument("--k", type=int, default=32, help="active latents per token (default 32)")
    fit.add_argument("--epochs", type=int, default=4, help="passes over the corpus sample (default 4)")
    fit.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fit.add_argument("--corpus-tokens", type=int, default=100_000,
                     help="corpus tokens fitted on (default 100000)")
    fit.set_defaults(func=_fit_sae)
    return parser


def _inspect(args: argparse.Namespace) -> int:
    from neurontest.errors import NeurontestError
    from neurontest.format.units import unit_from_text

    try:
        ref = unit_from_text(args.neuron)
    except (NeurontestError, ValueError) as exc:
        _say(str(exc))
        return 2
    if args.k < 1 or args.corpus_tokens < 1:
        _say("--k and --corpus-tokens must be at least 1")
        return 2
    try:
        from neurontest.inspect import inspect_neuron
        from neurontest.lab import Lab

        _say(f"loading model {args.model or 'smollm2-135m (embedded)'} on {args.device}")
        lab = Lab.load(args.model, args.corpus, n_tokens=args.corpus_tokens, device=args.device)
        _say(f"mining {ref} on corpus {args.corpus or 'wiki-sample'} ({args.corpus_tokens} tokens)")
        view = inspect_neuron(lab, ref, k=args.k)
        out = view.save_html(args.out or Path("reports") / f"inspect-{ref.cache_key}.html")
    except (NeurontestError, ValueError) as exc:
        _say(str(exc))
        return 1
    stats = view.stats
    if stats:
        _say(f"{ref}: max {stats['max']:.4g}, mean {stats['mean']:.4g}, "
             f"{stats['share_above']:.2%} of tokens above 0.25 x max")
    explanation = view.explanation
    if view.explained:
        _say(f"{ref}: drafted from the best simple explanation, {explanation.describe()}")
    elif explanation is not None:
        _say(f"{ref}: nothing simple explains it (best: {explanation.describe()}); "
             f"the draft is commented out and claims nothing")
    sys.stdout.write(view.draft_yaml())
    _say(f"wrote {out}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from neurontest.bench.run import main as bench_main

    return bench_main(args, _say)


def _fit_sae(args: argparse.Namespace) -> int:
    from neurontest.engine import sae_fit
    from neurontest.errors import NeurontestError

    try:
        if args.out is None:
            folder = sae_fit.embedded_sae_folder(args.name)
            if folder is None:
                _say(f"unknown SAE name {args.name!r}: known names are "
                     f"{', '.join(sae_fit.EMBEDDED_SAES)}; or pass --out FOLDER to fit your own")
                return 2
        else:
            if args.out.exists():
                _say(f"--out {args.out} already exists: pass a new folder")
                return 2
            fit = sae_fit.TopKFit(d_sae=args.d_sae, k=args.k, epochs=args.epochs, seed=args.seed)
            spec = sae_fit.EmbeddedSAE("smollm2-135m", args.layer, "hook_mlp_out", fit,
                                       corpus_tokens=args.corpus_tokens)
            sae_fit.fit_embedded(spec, args.out)
            folder = args.out
    except (NeurontestError, ValueError) as exc:
        _say(str(exc))
        return 1
    print(folder)
    return 0


def _schema(args: argparse.Namespace) -> int:
    try:
        from neurontest.format.schema import build_schema
    except ModuleNotFoundError as exc:
        if exc.name != "neurontest.format.schema":
            raise
        _say("this install has no neurontest.format.schema module; reinstall neurontest")
        return 1
    print(json.dumps(build_schema(), indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `neurontest` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status = int(args.func(args))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`neurontest schema | head -5`): what it read is all it wanted.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return status


if __name__ == "__main__":
    sys.exit(main())
