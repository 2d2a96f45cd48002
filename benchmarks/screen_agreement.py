"""How well the attribution-patching screen (`neurontest screen`) ranks units by what real
activation patching measures, on the embedded SmolLM2.

The screen (neurontest.measure.attribution_patching) estimates every MLP neuron's and attention
head's denoising patch effect from two forwards and one backward. This script takes the screen's
top N units (by |estimated effect|, within `--layers`) and K units drawn at random from the rest,
patches each of them for real (neurontest.measure.patching, three forwards per pair), and prints
the Spearman rank correlation between the screen's estimate and the measured effect (the mean
patched - corrupt change of the target over pairs, the quantity the screen estimates) over the
top N, over the random K, and over both; the same of their sizes |effect| (the screen orders by
size); Pearson's r; how often the signs agree; and the time each took. The table's shares are
the screen's (its mean effect over the mean clean - corrupt difference) and a `patching` claim's
`recovered` (the mean over pairs of each pair's share).

Default pairs: the month/weekday dates of hypotheses/test_causal.yaml ("We met on 3 [[March]]"
against "We met on 3 [[Friday]]") and ten more of the same kind, 16 in all, the month token
patched; target logit(" ") - logit(",") at the final position.

    python benchmarks/screen_agreement.py                       # top 20 + 20 random, all layers
    python benchmarks/screen_agreement.py --top 10 --random 20 --random-within 1000
    python benchmarks/screen_agreement.py --top 30 --random 0 --layers 20-29
    python benchmarks/screen_agreement.py --pairs pairs.yaml --answer " " --foil ","
"""
import argparse
import random
import statistics
import time
from pathlib import Path

import torch

from neurontest import load_model
from neurontest.claims.marked import mark_positions
from neurontest.measure.attribution_patching import attribution_patching
from neurontest.measure.patching import patch
from neurontest.measure.targets import Target

DATES = [  # (prefix, month, weekday): one token each after a space; the first six as in test_causal.yaml
    ("We met on 3", "March", "Friday"),
    ("The shop opened on 12", "June", "Monday"),
    ("She was born on 7", "April", "Sunday"),
    ("The law passed on 21", "July", "Tuesday"),
    ("It snowed on 9", "January", "Thursday"),
    ("The game ended on 30", "August", "Saturday"),
    ("The bridge collapsed on 14", "October", "Wednesday"),
    ("He resigned on 5", "November", "Friday"),
    ("The album was released on 18", "September", "Monday"),
    ("They married on 26", "December", "Saturday"),
    ("The treaty was signed on 2", "February", "Tuesday"),
    ("The storm hit on 11", "March", "Sunday"),
    ("The company was founded on 4", "April", "Thursday"),
    ("Voting closed on 16", "June", "Wednesday"),
    ("The ship sank on 8", "October", "Monday"),
    ("The film premiered on 23", "January", "Friday"),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=Path, default=None,
                        help="YAML: a list of {clean:, corrupt:} (or a mapping with `pairs:`), "
                             "[[marks]] as in a patching claim (default: 16 month/weekday dates)")
    parser.add_argument("--answer", default=" ", help="target: logit(answer) - logit(foil) (default ' ')")
    parser.add_argument("--foil", default=",", help="(default ',')")
    parser.add_argument("--top", type=int, default=20, help="screened units patched for real (default 20)")
    parser.add_argument("--random", type=int, default=20,
                        help="units drawn at random from the rest, also patched (default 20; 0: none)")
    parser.add_argument("--random-within", type=int, default=0,
                        help="draw the random units from screen ranks N+1 to this rank only (e.g. "
                             "1000: the next tier, whose effects are small but not nil; default 0: "
                             "from all the rest, nearly all of which do nothing)")
    parser.add_argument("--layers", default=None,
                        help="only units of these layers, e.g. '0-29' or '0,8,21-26' (default all)")
    parser.add_argument("--no-heads", action="store_true", help="neurons only")
    parser.add_argument("--no-neurons", action="store_true", help="heads only")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random draw")
    parser.add_argument("--model", default=None, help="model (default: embedded smollm2-135m)")
    return parser.parse_args()


def read_pairs(path: Path | None) -> list[tuple[str, str]]:
    if path is None:
        return [(f"{p} [[{m}]]", f"{p} [[{d}]]") for p, m, d in DATES]
    import yaml

    data = yaml.safe_load(path.read_text())
    if isinstance(data, dict):
        data = data["pairs"]
    return [(item["clean"], item["corrupt"]) for item in data]


def parse_layers(text: str | None) -> set[int] | None:
    if not text:
        return None
    layers: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        layers.update(range(int(lo), int(hi or lo) + 1))
    return layers


def ranks(values: list[float]) -> torch.Tensor:
    """1-based ranks, ties sharing their mean rank."""
    x = torch.tensor(values, dtype=torch.float64)
    order = torch.argsort(x)
    out = torch.empty_like(x)
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and x[order[j + 1]] == x[order[i]]:
            j += 1
        out[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rho: Pearson's correlation of the ranks (NaN under 3 values or a constant)."""
    if len(a) < 3:
        return float("nan")
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(ra.norm() * rb.norm())
    return float((ra * rb).sum()) / den if den else float("nan")


def pearson(a: list[float], b: list[float]) -> float:
    x, y = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    x, y = x - x.mean(), y - y.mean()
    den = float(x.norm() * y.norm())
    return float((x * y).sum()) / den if den and len(a) >= 3 else float("nan")


def summary(name: str, rows: list[dict]) -> None:
    if not rows:
        return
    est, real = [r["estimate"] for r in rows], [r["real"] for r in rows]
    signs = sum((e > 0) == (r > 0) for e, r in zip(est, real))
    size = spearman([abs(e) for e in est], [abs(r) for r in real])
    print(f"{name:22s} n={len(rows):3d}  Spearman {spearman(est, real):+.3f} (of |effect| "
          f"{size:+.3f})  Pearson {pearson(est, real):+.3f}  same sign {signs}/{len(rows)}")


def main() -> None:
    args = parse_args()
    model = load_model(args.model)
    raw = read_pairs(args.pairs)
    clean = [mark_positions(model.tokenizer, c) for c, _ in raw]
    corrupt = [mark_positions(model.tokenizer, x) for _, x in raw]
    texts_c, texts_x = [c.text for c in clean], [x.text for x in corrupt]
    positions = [list(c.positions or x.positions) for c, x in zip(clean, corrupt)]
    target = Target(answer=args.answer, foil=args.foil)

    start = time.perf_counter()
    ranked = attribution_patching(model, texts_c, texts_x, target, positions=positions,
                                  neurons=not args.no_neurons, heads=not args.no_heads)
    screen_s = time.perf_counter() - start
    layers = parse_layers(args.layers)
    pool = [a for a in ranked if layers is None or a.unit.layer in layers]
    top = pool[:args.top]
    rest = pool[args.top:args.random_within or None]
    drawn = random.Random(args.seed).sample(rest, min(args.random, len(rest)))
    rank_of = {a.unit: i for i, a in enumerate(pool, 1)}

    def measure(item, group: str) -> dict:
        begin = time.perf_counter()
        runs = patch(model, [item.unit], texts_c, texts_x, positions, target)
        took = time.perf_counter() - begin
        effect = statistics.fmean(r.patched - r.corrupt for r in runs)
        shares = [(r.patched - r.corrupt) / (r.clean - r.corrupt) for r in runs
                  if abs(r.clean - r.corrupt) >= 0.01]
        return {"unit": item.unit.short_id, "group": group, "rank": rank_of[item.unit],
                "diff": statistics.fmean(r.clean - r.corrupt for r in runs),
                "estimate": item.effect, "est_share": item.share, "real": effect,
                "share": statistics.fmean(shares) if shares else float("nan"), "seconds": took}

    patch(model, [top[0].unit], texts_c[:1], texts_x[:1], positions[:1], target)  # warm-up, untimed
    rows = [measure(a, "top") for a in top] + [measure(a, "random") for a in drawn]
    diff = rows[0]["diff"]

    n_units = len(ranked)
    print(f"{len(raw)} pairs, {target.label} at the final position; mean clean - corrupt {diff:+.3f}")
    print(f"screen: {n_units} units (neurons {'no' if args.no_neurons else 'yes'}, heads "
          f"{'no' if args.no_heads else 'yes'}) in {screen_s:.2f} s; {len(pool)} within layers "
          f"{args.layers or 'all'}")
    if args.random_within:
        print(f"random units drawn from screen ranks {args.top + 1}-{args.random_within}")
    print(f"{'unit':10s} {'group':6s} {'rank':>5s} {'screen eff':>10s} {'real eff':>9s} "
          f"{'screen sh':>9s} {'real sh':>8s}")
    for r in rows:
        print(f"{r['unit']:10s} {r['group']:6s} {r['rank']:5d} {r['estimate']:+10.3f} {r['real']:+9.3f} "
              f"{r['est_share']:+9.3f} {r['share']:+8.3f}")
    summary(f"top {len(top)} screened", [r for r in rows if r["group"] == "top"])
    summary(f"{len(drawn)} random others", [r for r in rows if r["group"] == "random"])
    summary("both", rows)
    per_unit = statistics.median(r["seconds"] for r in rows)
    total = sum(r["seconds"] for r in rows)
    print(f"time: screen {screen_s:.2f} s for all {n_units} units; real patching {total:.1f} s for "
          f"{len(rows)} units (median {per_unit:.2f} s per unit: patching all {n_units} would take "
          f"about {per_unit * n_units / 60:.0f} min)")


if __name__ == "__main__":
    main()
