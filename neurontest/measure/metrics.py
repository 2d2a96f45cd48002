"""Scores of a predicate against a neuron's real activations, as the field defines them.

Notation (docs/metrics.md): `a` are activations at every scorable corpus position (padding and
BOS excluded), `c` the claim's predicate there, `y = a > tau` the firing mask. The neuron is the
classifier and the claimed concept the label (NeuronEval, arXiv 2506.05774):

- precision = |c & y| / |y|     ("only": where it fires, the claim names the token)
- recall    = |c & y| / |c|     ("all": where the claim names a token, it fires)
- f1, iou = |c & y| / |c | y|, balanced_accuracy = (TPR + TNR) / 2
- auprc: average precision of ranking positions by raw `a` against `c` (no threshold); tied
  activations are one threshold, as in scikit-learn, so a dead unit scores the base rate
- recall_at_precision(p): the highest recall any activation threshold reaches while keeping
  precision >= p; precision_at_recall(r): the highest precision at recall >= r (no tau either)
- pearson: correlation of `a` and `c`, pooled over all positions (Bills et al. 2023)
- variance_explained: [Var(a) - (p0 Var(a|c=0) + p1 Var(a|c=1))] / Var(a) (Gurnee et al.)
"""

from __future__ import annotations

import torch

METRIC_NAMES = (
    "precision", "recall", "f1", "iou", "auprc", "pearson", "variance_explained",
    "balanced_accuracy",
)
#: Threshold-free operating-point metrics; each needs the level of the other metric to hold.
OPERATING_POINT_METRICS = {"recall_at_precision": "at_precision", "precision_at_recall": "at_recall"}


def _safe_div(num: float, den: float) -> float:
    return num / den if den else 0.0


def score_predicate(a: torch.Tensor, c: torch.Tensor, tau: float) -> dict[str, float]:
    """Every metric in `METRIC_NAMES` plus counts, for 1-D activations `a` and predicate `c`.

    Counts: `n_positions`, `n_claimed` (|c|), `n_firing` (|y|), `n_both` (|c & y|)."""
    a = a.reshape(-1).to(torch.float64)
    c = c.reshape(-1).to(torch.bool)
    if a.numel() != c.numel():
        raise ValueError(f"activations ({a.numel()}) and predicate ({c.numel()}) differ in size")
    y = a > tau
    tp = float((c & y).sum())
    n_c, n_y, n = float(c.sum()), float(y.sum()), float(a.numel())
    fp, fn = n_y - tp, n_c - tp  # fp: fires off the claim; fn: claimed but silent
    tn = n - tp - fp - fn
    precision, recall = _safe_div(tp, n_y), _safe_div(tp, n_c)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _safe_div(2 * precision * recall, precision + recall),
        "iou": _safe_div(tp, tp + fp + fn),
        "auprc": average_precision(a, c),
        "pearson": pearson(a, c.to(torch.float64)),
        "variance_explained": variance_explained(a, c),
        "balanced_accuracy": (_safe_div(tp, tp + fn) + _safe_div(tn, tn + fp)) / 2,
        "n_positions": n,
        "n_claimed": n_c,
        "n_firing": n_y,
        "n_both": tp,
        "tau": float(tau),
    }


def average_precision(a: torch.Tensor, c: torch.Tensor) -> float:
    """Area under the precision-recall curve of ranking by `a`, as average precision.

    AP = sum over distinct thresholds t, high to low, of (R(t) - R(t_prev)) * P(t), with tied
    activations one threshold (scikit-learn's `average_precision_score`), so the value never
    depends on the order of tied positions: a dead unit (all ties) scores the base rate, and
    the exact zeros of a ReLU unit are one cut."""
    a = a.reshape(-1)
    c = c.reshape(-1).to(torch.bool)
    n_pos = int(c.sum())
    if n_pos == 0:
        return 0.0
    order = torch.argsort(a, descending=True, stable=True)
    ranked = a[order]
    cum_hits = torch.cumsum(c[order].to(torch.float64), 0)
    last_of_tie = torch.ones(len(order), dtype=torch.bool)
    last_of_tie[:-1] = ranked[:-1] != ranked[1:]
    hits_at_cut = cum_hits[last_of_tie]
    fired_at_cut = torch.arange(1, len(order) + 1, dtype=torch.float64)[last_of_tie]
    new_hits = torch.diff(hits_at_cut, prepend=hits_at_cut.new_zeros(1))
    return float((new_hits * hits_at_cut / fired_at_cut).sum() / n_pos)


def precision_recall_curve(a: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(precision, recall) of `firing = a >= t` for every distinct activation t, high to low.

    Cuts fall only between distinct values: tied positions fire or stay silent together."""
    a = a.reshape(-1).to(torch.float64)
    c = c.reshape(-1).to(torch.bool)
    order = torch.argsort(a, descending=True, stable=True)
    hits = torch.cumsum(c[order].to(torch.float64), 0)
    fired = torch.arange(1, len(order) + 1, dtype=torch.float64)
    ranked = a[order]
    last_of_tie = torch.ones(len(order), dtype=torch.bool)
    last_of_tie[:-1] = ranked[:-1] != ranked[1:]
    n_pos = float(c.sum())
    precision = hits[last_of_tie] / fired[last_of_tie]
    recall = hits[last_of_tie] / n_pos if n_pos else torch.zeros_like(precision)
    return precision, recall


def recall_at_precision(a: torch.Tensor, c: torch.Tensor, level: float) -> float:
    """The highest recall of any threshold on `a` whose precision is at least `level` (0 if none)."""
    precision, recall = precision_recall_curve(a, c)
    ok = precision >= level - 1e-12
    return float(recall[ok].max()) if bool(ok.any()) else 0.0


def precision_at_recall(a: torch.Tensor, c: torch.Tensor, level: float) -> float:
    """The highest precision of any threshold on `a` whose recall is at least `level` (0 if none)."""
    precision, recall = precision_recall_curve(a, c)
    ok = recall >= level - 1e-12
    return float(precision[ok].max()) if bool(ok.any()) else 0.0


def operating_point(name: str, a: torch.Tensor, c: torch.Tensor, level: float) -> float:
    """`recall_at_precision` or `precision_at_recall` (see `OPERATING_POINT_METRICS`) at `level`."""
    if name == "recall_at_precision":
        return recall_at_precision(a, c, level)
    if name == "precision_at_recall":
        return precision_at_recall(a, c, level)
    raise ValueError(f"unknown operating-point metric {name!r}; use one of {list(OPERATING_POINT_METRICS)}")


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pooled Pearson correlation of two 1-D tensors (0 when either is constant)."""
    a = a - a.mean()
    b = b - b.mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den else 0.0


def variance_explained(a: torch.Tensor, c: torch.Tensor) -> float:
    """Share of Var(a) between the predicate's two groups (0 when `a` is constant)."""
    total = float(a.var(unbiased=False)) if a.numel() else 0.0
    if total == 0.0:
        return 0.0
    within = 0.0
    for part in (a[c], a[~c]):
        if part.numel():
            within += part.numel() / a.numel() * float(part.var(unbiased=False))
    return (total - within) / total
