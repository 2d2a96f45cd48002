
"""The `neurontest` command: `inspect`, `power`, `screen`, `schema`, `bench` and `fit-sae`.

`inspect` a neuron (HTML page + draft hypothesis), print the `schema`, `bench` the library, `fit-sae` a sparse autoencoder:

    neurontest inspect L3N1234 --corpus-tokens 20000 > test_l3n1234.yaml
    neurontest power L0N972 --fires-on "January February March" --threshold 4
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

from neurontest.errors import NeurontestError


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
    inspect.add_argument("--split", choices=("explore", "all"), default="explore",
                         help="corpus half drafted on: explore (default; the draft says `split: "
                              "confirm`, so it is tested on documents it was not fitted to) or all")
    inspect.add_argument("--k", type=int, default=12, help="top and random examples to show (default 12)")
    inspect.add_argument("--out", type=Path, default=None,
                         help="HTML page to write (default reports/inspect-<neuron>.html)")
    inspect.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    inspect.set_defaults(func=_inspect)

    power = sub.add_parser("power", help="before claiming: how many claimed and firing positions, "
                           "and corpus tokens, would pin a unit's precision and recall to +-0.05")
    power.add_argument("neuron", help="unit: a neuron (L3N1234), an attention head (L5H3) or an "
                                      "SAE latent (<sae folder or name>#<index>)")
    power.add_argument("--fires-on", required=True,
                       help="the predicate: tokens separated by spaces (\"January February\") or "
                            "a YAML mapping as in a hypothesis file (\"{regex: '^[0-9]+$'}\")")
    power.add_argument("--threshold", default=None,
                       help="tau: a number, or a share of the corpus max as 0.25x (default 0.25x)")
    power.add_argument("--half-width", type=float, default=0.05,
                       help="the +- to pin each share to (default 0.05)")
    power.add_argument("--model", default=None, help="model (default: embedded smollm2-135m)")
    power.add_argument("--corpus", default=None, help="corpus spec (default: wiki-sample)")
    power.add_argument("--corpus-tokens", type=int, default=100_000,
                       help="tokens sampled from the corpus (default 100000)")
    power.set_defaults(func=_power)

    screen = sub.add_parser("screen", help="rank every neuron and head by attribution patching "
                            "over counterfactual pairs; print draft `patching` claims")
    screen.add_argument("--pairs", type=Path, required=True,
                        help="YAML file: a list of {clean:, corrupt:} (or a mapping with `pairs:`), "
                             "[[marks]] as in a patching claim")
    screen.add_argument("--target", default=None,
                        help="a token whose log-prob is the target (default: next)")
    screen.add_argument("--answer", default=None, help="with --foil: the logit difference answer - foil")
    screen.add_argument("--foil", default=None, help="with --answer")
    screen.add_argument("--top", type=int, default=10, help="units to list (default 10)")
    screen.add_argument("--drafts", type=int, default=3, help="draft claims to print (default 3)")
    screen.add_argument("--model", default=None, help="model (default: embedded smollm2-135m)")
    screen.set_defaults(func=_screen)

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
    from neurontest.claims.unit_entries import unit_from_text

    try:
        ref = unit_from_text(args.neuron)
    except (NeurontestError, ValueError) as exc:
        _say(str(exc))
        return 2
    if args.k < 1 or args.corpus_tokens < 1:
        _say("--k and --corpus-tokens must be at least 1")
        return 2
    try:
        from neurontest.inspection import inspect_neuron
        from neurontest.lab import Lab

        _say(f"loading model {args.model or 'smollm2-135m (embedded)'} on {args.device}")
        lab = Lab.load(args.model, args.corpus, n_tokens=args.corpus_tokens, device=args.device,
                       split=args.split)
        half = f", {args.split} half" if args.split != "all" else ""
        _say(f"mining {ref} on corpus {args.corpus or 'wiki-sample'} ({args.corpus_tokens} tokens{half})")
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


def _power(args: argparse.Namespace) -> int:
    try:
        from neurontest.claims.unit_entries import unit_from_text

        ref = unit_from_text(args.neuron)
        predicate, threshold = _predicate_arg(args.fires_on), _threshold_arg(args.threshold)
        if not 0 < args.half_width < 1:
            raise ValueError("--half-width is a share's +-, between 0 and 1 (e.g. 0.05)")
    except (NeurontestError, ValueError) as exc:
        _say(str(exc))
        return 2
    try:
        from neurontest.claims.power import corpus_needed
        from neurontest.lab import Lab

        lab = Lab.load(args.model, args.corpus, n_tokens=args.corpus_tokens)
        estimates = corpus_needed(lab, ref, predicate, threshold, half_width=args.half_width)
    except (NeurontestError, ValueError) as exc:
        _say(str(exc))
        return 1
    print(f"{ref}: {predicate.describe()}, tau {threshold.describe()}, on "
          f"{lab.sample.n_tokens:,} corpus tokens")
    for estimate in estimates:
        print("  " + estimate.describe())
    return 0


def _screen(args: argparse.Namespace) -> int:
    try:
        pairs, target = _pairs_arg(args)
        if args.top < 1 or args.drafts < 0:
            raise ValueError("--top is at least 1 and --drafts at least 0")
    except (NeurontestError, ValueError, OSError) as exc:
        _say(str(exc))
        return 2
    try:
        from neurontest.claims.marked import mark_positions
        from neurontest.engine.models.loading import load_model
        from neurontest.measure.attribution_patching import attribution_patching

        model = load_model(args.model)
        clean = [mark_positions(model.tokenizer, p.clean) for p in pairs]
        corrupt = [mark_positions(model.tokenizer, p.corrupt) for p in pairs]
        ranked = attribution_patching(model, [c.text for c in clean], [x.text for x in corrupt], target,
                                      positions=[c.positions or x.positions for c, x in zip(clean, corrupt)])
    except (NeurontestError, ValueError) as exc:
        _say(str(exc))
        return 1
    print(f"attribution patching over {len(pairs)} pair(s), {target.label}: estimated effect of a "
          "denoising patch (first-order: measure it with a patching claim)")
    for rank, item in enumerate(ranked[:args.top], 1):
        print(f"{rank:3d}. {item.unit.short_id:10s} effect {item.effect:+.4g}  share {item.share:+.3g}")
    if args.drafts:
        import yaml

        target_yaml = ({"answer": target.answer, "foil": target.foil} if target.answer is not None
                       else target.token or "next")
        print("neurons:")
        for item in ranked[:args.drafts]:
            claim = {"kind": "patching", "pairs": [{"clean": p.clean, "corrupt": p.corrupt} for p in pairs],
                     "target": target_yaml, "recovered": f">= {max(min(item.share, 1.0), 0.0) / 2:.2f}"}
            print(f"  - id: {item.unit.short_id}\n    # estimated share {item.share:.3g}: a draft, "
                  "measure before keeping\n    claims:")
            body = yaml.safe_dump([claim], sort_keys=False, allow_unicode=True, width=100)
            print("\n".join("      " + line for line in body.splitlines()))
    return 0


def _pairs_arg(args: argparse.Namespace) -> tuple[list, object]:
    """`--pairs` read and checked as a patching claim's `pairs:`, and the target options."""
    from pydantic import TypeAdapter, ValidationError

    from neurontest.claims.causal import Pairs
    from neurontest.format.safe_yaml import load
    from neurontest.measure.targets import Target

    data = load(args.pairs.read_bytes())
    if isinstance(data, dict) and "pairs" in data:
        data = data["pairs"]
    try:
        pairs = TypeAdapter(Pairs).validate_python(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ", ".join(str(p) for p in error["loc"])
        raise ValueError(f"{args.pairs}: a list of {{clean:, corrupt:}} texts ({where}: "
                         f"{error['msg'].lower()})") from None
    if (args.answer is None) != (args.foil is None):
        raise ValueError("--answer and --foil go together")
    if args.target is not None and args.answer is not None:
        raise ValueError("give --target or --answer/--foil, not both")
    if args.answer is not None:
        return pairs, Target(answer=args.answer, foil=args.foil)
    return pairs, Target(token=None if args.target in (None, "next") else args.target)


def _predicate_arg(text: str) -> object:
    """`--fires-on`: a YAML mapping, or tokens separated by spaces."""
    from neurontest.claims.predicates import predicate_from_dict

    if text.strip().startswith("{"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"--fires-on is not a YAML mapping: {exc}".splitlines()[0]) from None
        return predicate_from_dict(data)
    tokens = text.split()
    if not tokens:
        raise ValueError("--fires-on names no token")
    return predicate_from_dict({"tokens": tokens})


def _threshold_arg(text: str | None) -> object:
    """`--threshold`: a number, or `0.25x` for a share of the corpus max."""
    from neurontest.claims.bounds import DEFAULT_THRESHOLD, Threshold

    if text is None:
        return DEFAULT_THRESHOLD
    try:
        if text.strip().lower().endswith("x"):
            return Threshold.parse({"relative": float(text.strip()[:-1])})
        return Threshold.parse(float(text))
    except ValueError:
        raise ValueError(f"--threshold {text!r}: give a number (4.0) or a share of the max (0.25x)") from None


def _bench(args: argparse.Namespace) -> int:
    from neurontest.bench.run import main as bench_main

    return bench_main(args, _say)


def _fit_sae(args: argparse.Namespace) -> int:
    from neurontest.engine.models import sae_fit

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
