"""95% intervals for every rate metric, so a verdict carries its uncertainty, and one-sided
p-values of a bound, so a suite of claims can be corrected for multiplicity.

* precision and recall: the Wilson score interval of a binomial share (k of n), and a cluster
  bootstrap of the same share; a verdict uses their `hull`.
* F1, IoU, AUPRC, Pearson, variance explained, balanced accuracy and the operating-point
  metrics: a percentile bootstrap that resamples whole clusters (documents where known, else
  corpus windows), since positions in one text are not independent.
* a mean over texts (an ablation's effect): the t interval of the per-text means, with n-1
  degrees of freedom (`clustered_mean_interval`); a bootstrap over few texts undercovers.
* p-values: `bootstrap_p_value`, `wilson_p_value`, `t_p_value` (none for `==`).

The bootstrap draws cluster counts with a fixed seed, so a rerun gives the same interval and a
remembered result stays valid. The count- and moment-based metrics never revisit single
positions: per cluster it keeps sufficient statistics (counts, sums), so all resamples are one
matrix product; only AUPRC and the operating points, which depend on the ranking, need a
weighted cumulative sum over the ranked positions (in chunks of resamples, to bound memory).
Wilson intervals treat positions as independent; the bootstrap does not.
"""

from __future__ import annotations

import functools
import math
import statistics
from typing import Sequence

import torch

DEFAULT_LEVEL = 0.95
DEFAULT_RESAMPLES = 400
BOOTSTRAP_SEED = 0
# Resamples per chunk for the ranking metrics: bounds memory at ~chunk x positions floats.
_RANK_CHUNK = 32
# The ranking metrics cost resamples x ranked positions; past this budget they use fewer
# resamples (the first ones drawn, never under _MIN_RANK_RESAMPLES), so a broad predicate over
# 100k positions stays well under a second.
_RANK_BUDGET = 8_000_000
_MIN_RANK_RESAMPLES = 200

Interval = tuple[float, float]


def normal_quantile(level: float) -> float:
    """z such that a standard normal lies within +-z with probability `level`."""
    return statistics.NormalDist().inv_cdf((1 + level) / 2)


def wilson(k: float, n: float, level: float = DEFAULT_LEVEL) -> Interval:
    """Wilson score interval of the share k/n; (0, 1) when n is 0 (nothing is known)."""
    if n <= 0:
        return (0.0, 1.0)
    z = normal_quantile(level)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _resample_counts(n_groups: int, resamples: int, seed: int) -> torch.Tensor:
    """[resamples, n_groups]: how often each group is drawn in each resample (with replacement)."""
    generator = torch.Generator().manual_seed(seed)
    drawn = torch.randint(n_groups, (resamples, n_groups), generator=generator)
    counts = torch.zeros(resamples, n_groups, dtype=torch.float64)
    return counts.scatter_add_(1, drawn, torch.ones_like(drawn, dtype=torch.float64))


def percentile_interval(samples: torch.Tensor, level: float, point: float) -> Interval:
    """The percentile interval of bootstrap `samples` at `level`, widened to contain `point`."""
    finite = samples[torch.isfinite(samples)]
    if finite.numel() == 0:
        return (point, point)
    lo, hi = torch.quantile(finite, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=finite.dtype))
    # A skewed bootstrap can miss the point estimate; an interval always contains its value.
    return (min(float(lo), point), max(float(hi), point))


def _div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den with 0 where den is 0 (the metrics' convention)."""
    safe = den.where(den != 0, torch.ones_like(den))
    return torch.where(den != 0, num / safe, torch.zeros_like(num))


def window_bootstrap(
    a: torch.Tensor,
    c: torch.Tensor,
    groups: torch.Tensor,
    tau: float,
    point: dict[str, float],
    *,
    operating: dict[str, float] | None = None,
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Interval]:
    """Bootstrap intervals, resampling clusters (`groups[i]` is position i's cluster: its
    document where the corpus knows it, else its window), of precision, recall, f1, iou,
    balanced_accuracy, pearson, variance_explained, auprc and the `operating` metrics
    (`{"recall_at_precision": 0.9}`), for the metrics named in `point` (each one's value on the
    whole corpus, which its interval always contains).

    Fewer than two clusters give no interval (an empty dict)."""
    samples = window_bootstrap_samples(a, c, groups, tau, point, operating=operating,
                                       resamples=resamples, seed=seed)
    return {name: percentile_interval(s, level, point[name]) for name, s in samples.items()}


def window_bootstrap_samples(
    a: torch.Tensor,
    c: torch.Tensor,
    groups: torch.Tensor,
    tau: float,
    point: dict[str, float],
    *,
    operating: dict[str, float] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, torch.Tensor]:
    """The per-resample values (finite ones) behind `window_bootstrap`, for the metrics named
    in `point`: the same seeded resamples, so a p-value (`bootstrap_p_value`) and the interval
    of one claim agree. AUPRC and the operating points may have fewer resamples (the first
    ones drawn; see `_RANK_BUDGET`). Fewer than two clusters give an empty dict."""
    a = a.reshape(-1).to(torch.float64)
    c = c.reshape(-1).to(torch.bool)
    _, groups = torch.unique(groups.reshape(-1), return_inverse=True)
    n_groups = int(groups.max()) + 1 if groups.numel() else 0
    if n_groups < 2:
        return {}
    cf, y = c.to(torch.float64), (a > tau).to(torch.float64)
    per_position = torch.stack([cf * y, cf, y, torch.ones_like(a), a, a * a, a * cf], dim=1)
    stats = torch.zeros(n_groups, per_position.shape[1], dtype=torch.float64)
    stats.index_add_(0, groups, per_position)
    counts = _resample_counts(n_groups, resamples, seed)
    tp, n_c, n_y, n, s_a, s_aa, s_ac = (counts @ stats).unbind(1)
    precision, recall = _div(tp, n_y), _div(tp, n_c)
    tn = n - n_y - n_c + tp
    cov = s_ac / n - (s_a / n) * (n_c / n)
    var_a = (s_aa / n - (s_a / n) ** 2).clamp_min(0)
    var_c = (n_c / n) * (1 - n_c / n)
    r = _div(cov, torch.sqrt(var_a * var_c))
    samples = {
        "precision": precision,
        "recall": recall,
        "f1": _div(2 * precision * recall, precision + recall),
        "iou": _div(tp, n_y + n_c - tp),
        "balanced_accuracy": (recall + _div(tn, n - n_c)) / 2,
        "pearson": r,
        "variance_explained": r * r,  # the between-group share of a binary predictor is r^2
    }
    operating = {name: lvl for name, lvl in (operating or {}).items() if name in point}
    if "auprc" in point or operating:  # the ranking is the costly part: only when asked for
        samples |= _ranking_samples(a, c, groups, counts, operating)
    return {name: s[torch.isfinite(s)] for name, s in samples.items() if name in point}


def hull(a: Interval | None, b: Interval | None) -> Interval | None:
    """The smallest interval containing both (either may be None; None when both are): the
    verdict interval of a share that has both a Wilson and a cluster-bootstrap interval, so
    neither the independence assumption nor a small number of clusters makes it too narrow."""
    if a is None or b is None:
        return a if b is None else b
    return (min(a[0], b[0]), max(a[1], b[1]))


def _ranking_samples(a: torch.Tensor, c: torch.Tensor, groups: torch.Tensor, counts: torch.Tensor,
                     operating: dict[str, float]) -> dict[str, torch.Tensor]:
    """AUPRC and operating points per resample: each position weighted by its window's count."""
    order = torch.argsort(a, descending=True, stable=True)
    if bool(c.any()):
        # Ranks below the last claimed position (and its ties) add no hit: AP and every cut
        # that reaches full recall are decided above it. A true claim ranks high, so this
        # usually keeps a few hundred of 100k positions.
        last = int(c[order].nonzero()[-1])
        order = order[: int((a[order] >= a[order][last]).sum())]
    ranked, hit, window = a[order], c[order].to(torch.float32), groups[order]
    last_of_tie = torch.ones(len(order), dtype=torch.bool)
    last_of_tie[:-1] = ranked[:-1] != ranked[1:]
    # Every position reads the precision at the end of its tie group: a tie group is one
    # threshold (as in `metrics.average_precision`), whatever the order within it.
    first_of_tie = torch.ones(len(order), dtype=torch.bool)
    first_of_tie[1:] = last_of_tie[:-1]
    cut_of = last_of_tie.nonzero().reshape(-1)[torch.cumsum(first_of_tie.to(torch.long), 0) - 1]
    out: dict[str, list[torch.Tensor]] = {"auprc": []} | {name: [] for name in operating}
    affordable = _RANK_BUDGET // max(len(order), 1)
    n_resamples = min(counts.shape[0], max(affordable, _MIN_RANK_RESAMPLES))
    for start in range(0, n_resamples, _RANK_CHUNK):
        weight = counts[start:min(start + _RANK_CHUNK, n_resamples)].to(torch.float32)[:, window]
        hits = weight * hit
        cum_hits, cum_all = torch.cumsum(hits, 1), torch.cumsum(weight, 1)
        total = cum_hits[:, -1:]
        precision = cum_hits / cum_all.clamp_min(1e-9)
        out["auprc"].append(_div((hits * precision[:, cut_of]).sum(1), total[:, 0]).to(torch.float64))
        recall = cum_hits / total.clamp_min(1e-9)
        for name, level in operating.items():
            # Only cuts between distinct activations are thresholds (tied positions fire together).
            if name == "recall_at_precision":
                ok, value = last_of_tie & (precision >= level - 1e-6), recall
            else:
                ok, value = last_of_tie & (recall >= level - 1e-6), precision
            out[name].append(torch.where(ok, value, torch.zeros_like(value)).amax(1).to(torch.float64))
    return {name: torch.cat(parts) for name, parts in out.items()}


def grouped_mean_interval(
    values: Sequence[float],
    groups: Sequence[int],
    *,
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Interval | None:
    """Bootstrap interval of the mean of `values`, resampling whole groups (texts); None when
    there are fewer than two groups or two values.

    Kept for existing callers: with few texts a percentile bootstrap undercovers (about 0.84
    for a nominal 0.95 at five texts, 0.51 at two; docs/metrics.md), so use `clustered_mean_interval`."""
    if len(values) < 2 or len(set(groups)) < 2:
        return None
    _, index = torch.unique(torch.tensor(list(groups)), return_inverse=True)
    n_groups = int(index.max()) + 1
    sums = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, index, torch.tensor(values, dtype=torch.float64))
    sizes = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, index, torch.ones(len(values), dtype=torch.float64))
    counts = _resample_counts(n_groups, resamples, seed)
    means = counts @ sums / (counts @ sizes)
    return percentile_interval(means, level, float(sum(values) / len(values)))


def t_interval(values: Sequence[float], level: float = DEFAULT_LEVEL) -> Interval | None:
    """mean +- t_{n-1} * sd / sqrt(n): the interval of a mean over n independent values (texts)
    with its n-1 degrees of freedom, which a bootstrap over few values ignores. None for fewer
    than two values; a sample with no spread gives (mean, mean)."""
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    sd = statistics.stdev(values)
    if sd == 0:
        return (mean, mean)
    half = student_t_quantile((1 + level) / 2, n - 1) * sd / math.sqrt(n)
    return (mean - half, mean + half)


def clustered_mean_interval(
    values: Sequence[float], groups: Sequence[object], level: float = DEFAULT_LEVEL,
) -> Interval | None:
    """The t interval of the mean over groups (texts): one mean per group, n_groups - 1 degrees
    of freedom, since positions of one text are not independent. None for fewer than two
    groups. Each group counts once, whatever its number of values."""
    if len(values) != len(groups):
        raise ValueError(f"values ({len(values)}) and groups ({len(groups)}) differ in size")
    by_group: dict[object, list[float]] = {}
    for value, group in zip(values, groups):
        by_group.setdefault(group, []).append(float(value))
    return t_interval([math.fsum(vs) / len(vs) for vs in by_group.values()], level)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (Numerical Recipes' `betacf`)."""
    tiny, eps = 1e-300, 1e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def _betai(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _t_upper_tail(x: float, df: float) -> float:
    """P(T > x) for x >= 0, computed directly so that far tails keep their precision."""
    return 0.5 * _betai(df / 2.0, 0.5, df / (df + x * x))


def student_t_cdf(x: float, df: float) -> float:
    """P(T <= x) for Student's t with `df` degrees of freedom (no scipy: incomplete beta)."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, not {df}")
    if math.isnan(x):
        return math.nan
    if math.isinf(x):
        return 1.0 if x > 0 else 0.0
    tail = _t_upper_tail(abs(x), df)
    return 1.0 - tail if x > 0 else tail


@functools.lru_cache(maxsize=256)
def student_t_quantile(p: float, df: float) -> float:
    """x with P(T <= x) = p for Student's t with `df` degrees of freedom: bisection on the
    tail, to about 1e-12 relative (cached: intervals ask for the same few levels)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"a quantile needs 0 < p < 1, not {p}")
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, not {df}")
    if p == 0.5:
        return 0.0
    tail = min(p, 1.0 - p)
    lo, hi = 0.0, 1.0
    while _t_upper_tail(hi, df) > tail:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if _t_upper_tail(mid, df) > tail:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * hi:
            break
    x = (lo + hi) / 2.0
    return x if p > 0.5 else -x


# One-sided p-values of a bound "metric OP value": H0 is "the metric is not on the claimed side".
# `==` claims a point, which no one-sided test supports: every function returns None for it.
_GREATER, _LESS = (">=", ">"), ("<=", "<")


def _check_op(op: str) -> bool:
    """True for a one-sided bound, False for `==`; anything else is an error."""
    if op in _GREATER or op in _LESS:
        return True
    if op == "==":
        return False
    raise ValueError(f"unknown bound operator {op!r}; use one of >=, >, <=, <, ==")


def bootstrap_p_value(samples: torch.Tensor, op: str, value: float) -> float | None:
    """(1 + resamples on the wrong side of `value`) / (1 + resamples), from the resamples of
    `window_bootstrap_samples`. None for `==`.

    When no resample lies on the wrong side, that count says only "below 1 / (1 + resamples)",
    which no multiplicity correction can use (Holm over 20 claims would need p < 0.0025, all
    400 resamples can show); the normal tail of the resamples' own mean and spread then
    estimates how far below, capped at that bound."""
    if not _check_op(op):
        return None
    samples = samples.reshape(-1)
    samples = samples[torch.isfinite(samples)]
    wrong = {">=": samples < value, ">": samples <= value,
             "<=": samples > value, "<": samples >= value}[op]
    n_wrong, n = int(wrong.sum()), samples.numel()
    if n_wrong or n < 2:
        return (1 + n_wrong) / (1 + n)
    samples = samples.to(torch.float64)
    spread = float(samples.std())
    if spread == 0.0:
        return 0.0  # every resample on the claimed side, and all equal
    distance = (float(samples.mean()) - value) * (1 if op in _GREATER else -1)
    tail = 1 - statistics.NormalDist().cdf(distance / spread)
    return min(tail, 1 / (1 + n))


def wilson_p_value(k: float, n: float, op: str, value: float) -> float | None:
    """One-sided score test of the share k/n against `value` (the test whose inversion is the
    Wilson interval): z = (k/n - value) / sqrt(value (1 - value) / n). None for `==`; 1.0 when
    n is 0. At value 0 or 1 the null is a point that either makes the data impossible (p 0) or
    cannot be rejected (p 1)."""
    if not _check_op(op):
        return None
    if n <= 0:
        return 1.0
    if op in _LESS:  # mirror: a share below `value` is the failure share above 1 - value
        k, value, op = n - k, 1.0 - value, {"<=": ">=", "<": ">"}[op]
    # Now op is ">=" or ">": H0 is share < value (">=") or share <= value (">").
    if value < 0 or (value == 0 and op == ">="):
        return 0.0  # every share meets it
    if value > 1 or (value == 1 and op == ">"):
        return 1.0  # no share meets it
    if value == 0:  # "> 0": under H0 (share 0) any success is impossible
        return 0.0 if k > 0 else 1.0
    if value == 1:  # ">= 1": a share just below 1 explains any data
        return 1.0
    z = (k / n - value) / math.sqrt(value * (1 - value) / n)
    return statistics.NormalDist().cdf(-z)  # 1 - Phi(z), without cancellation in the far tail


def t_p_value(values: Sequence[float], op: str, value: float) -> float | None:
    """One-sided one-sample t test of the mean of `values` (n-1 degrees of freedom) against
    `value`. None for `==`; 1.0 with fewer than two values; with no spread, 0.0 when the mean
    is strictly on the claimed side, else 1.0."""
    if not _check_op(op):
        return None
    n = len(values)
    if n < 2:
        return 1.0
    mean = math.fsum(values) / n
    sd = statistics.stdev(values)
    if sd == 0:
        return 0.0 if (mean > value if op in _GREATER else mean < value) else 1.0
    t = (mean - value) / (sd / math.sqrt(n))
    return student_t_cdf(-t if op in _GREATER else t, n - 1)  # P(T >= t) = P(T <= -t)
