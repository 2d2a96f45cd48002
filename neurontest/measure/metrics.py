"""Scores of a predicate against a neuron's real activations, as the field defines them.

Notation (docs/metrics.md): `a` are activations at every scorable corpus position (padding and
BOS excluded), `c` the claim's predicate there, `y = a > tau` the firing mask.

- precision = |c & y| / |c|     ("only": where the claim says it fires, it does)
- recall    = |c & y| / |y|     ("all": where it fires, the claim said so)
- f1, iou = |c & y| / |c | y|, balanced_accuracy = (TPR + TNR) / 2
- auprc: average precision of ranking positions by raw `a` against `c` (no threshold)
- pearson: correlation of `a` and `c`, pooled over all positions (Bills et al. 2023)
- variance_explained: [Var(a) - (p0 Var(a|c=0) + p1 Var(a|c=1))] / Var(a) (Gurnee et al.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

METRIC_NAMES = (
    "precision", "recall", "f1", "iou", "auprc", "pearson", "variance_explained",
    "balanced_accuracy",
)


def _safe_div(num: float, den: float) -> float:
    return num / den if den else 0.0


def score_predicate(a: torch.Tensor, c: torch.Tensor, tau: float) -> dict[str, float]:
    """Every metric in `METRIC_NAMES` plus counts, for 1-D activations `a` and predicate `c`."""
    import torch

    a = a.reshape(-1).to(torch.float64)
    c = c.reshape(-1).to(torch.bool)
    if a.numel() != c.numel():
        raise ValueError(f"activations ({a.numel()}) and predicate ({c.numel()}) differ in size")
    y = a > tau
    tp = float((c & y).sum())
    n_c, n_y, n = float(c.sum()), float(y.sum()), float(a.numel())
    fp, fn = n_c - tp, n_y - tp
    tn = n - tp - fp - fn
    precision, recall = _safe_div(tp, n_c), _safe_div(tp, n_y)
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
        "tau": float(tau),
    }


def average_precision(a: torch.Tensor, c: torch.Tensor) -> float:
    """Area under the precision-recall curve of ranking by `a`, as average precision."""
    import torch

    n_pos = int(c.sum())
    if n_pos == 0:
        return 0.0
    order = torch.argsort(a, descending=True, stable=True)
    hits = c[order].to(torch.float64)
    precision_at_rank = torch.cumsum(hits, 0) / torch.arange(1, len(hits) + 1, dtype=torch.float64)
    return float((precision_at_rank * hits).sum() / n_pos)


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den else 0.0


def variance_explained(a: torch.Tensor, c: torch.Tensor) -> float:
    total = float(a.var(unbiased=False)) if a.numel() else 0.0
    if total == 0.0:
        return 0.0
    within = 0.0
    for part in (a[c], a[~c]):
        if part.numel():
            within += part.numel() / a.numel() * float(part.var(unbiased=False))
    return (total - within) / total
