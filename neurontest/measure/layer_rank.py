"""Scores of every unit of a layer against one predicate, from a layer scan's summary
(neurontest.engine.run.layer_scan), and where the claimed unit ranks among them.

    scores = layer_scores(summary, tau=4.0)          # or relative=0.25 (a share of each max)
    rank = rank_of(scores["f1"], own=972)            # 1: no unit of the layer fits better

Counts above an absolute tau are exact (tau is a histogram edge); above a relative tau they are
read at the next edge up (2.5% apart). AUPRC treats each histogram bin as one tied
group (scikit-learn's tie rule); Pearson's r comes from exact sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neurontest.engine.run.layer_scan import MAX_X, N_SUMS, SUM_X, SUM_X2, SUM_XY, scan_edges


def layer_scores(summary: torch.Tensor, *, tau: float | None = None,
                 relative: float | None = None) -> dict[str, torch.Tensor]:
    """Per unit (`[units]` float64): precision, recall, f1, iou, auprc, pearson, and tau; give
    exactly one of `tau` (absolute: the scan's own) or `relative` (x each unit's maximum)."""
    if (tau is None) == (relative is None):
        raise ValueError("give exactly one of tau= or relative=")
    edges = scan_edges(tau)
    n_bins = len(edges) + 1
    claimed_hist = summary[:, :n_bins]
    other_hist = summary[:, n_bins:2 * n_bins]
    sums = summary[:, 2 * n_bins:2 * n_bins + N_SUMS]
    n_claimed = claimed_hist.sum(1)
    n_other = other_hist.sum(1)
    n = n_claimed + n_other
    maxima = sums[:, MAX_X]
    taus = torch.full_like(maxima, float(tau)) if tau is not None else relative * maxima
    # Firing: activation > tau, i.e. bins past the one whose upper edge is the first >= tau.
    first_firing = torch.bucketize(taus, edges) + 1  # [units]
    bin_index = torch.arange(n_bins).view(1, -1)
    firing = bin_index >= first_firing.view(-1, 1)
    both = (claimed_hist * firing).sum(1)
    false_pos = (other_hist * firing).sum(1)
    fired = both + false_pos
    precision = _ratio(both, fired)
    recall = _ratio(both, n_claimed)
    f1 = _ratio(2 * both, fired + n_claimed)
    iou = _ratio(both, n_claimed + false_pos)
    # AUPRC over descending bins, each bin a tie group: sum of precision x recall gained.
    tp = claimed_hist.flip(1).cumsum(1)
    fp = other_hist.flip(1).cumsum(1)
    gained = claimed_hist.flip(1)
    auprc = _ratio((gained * _ratio(tp, tp + fp)).sum(1), n_claimed)
    mean_x = _ratio(sums[:, SUM_X], n)
    var_x = _ratio(sums[:, SUM_X2], n) - mean_x ** 2
    p = _ratio(n_claimed, n)
    cov = _ratio(sums[:, SUM_XY], n) - mean_x * p
    denom = (var_x.clamp_min(0) * p * (1 - p)).sqrt()
    pearson = torch.where(denom > 0, cov / denom.clamp_min(1e-300), torch.zeros_like(cov))
    return {"precision": precision, "recall": recall, "f1": f1, "iou": iou, "auprc": auprc,
            "pearson": pearson, "tau": taus}


def _ratio(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(b > 0, a / b.clamp_min(1e-300), torch.zeros_like(a))


@dataclass(frozen=True)
class LayerRank:
    """The claimed unit's place among `n_units` by one metric: `rank` 1 is the best fit (ties go
    to the claimed unit), `specificity` the share of the other units it beats outright, and
    `better` (index, score) for the units that fit the predicate better, best first."""

    metric: str
    own: float
    rank: int
    specificity: float
    n_units: int
    better: tuple[tuple[int, float], ...]


def rank_of(scores: torch.Tensor, own: int, metric: str, *, shown: int = 5) -> LayerRank:
    """Where unit `own` (an index into `scores`) ranks; `shown` of the better units listed."""
    values = scores.tolist()
    mine = values[own]
    others = [(i, v) for i, v in enumerate(values) if i != own and math.isfinite(v)]
    better = sorted(((i, v) for i, v in others if v > mine), key=lambda iv: -iv[1])
    beaten = sum(1 for _, v in others if v < mine)
    return LayerRank(metric, mine, 1 + len(better), beaten / max(len(others), 1), len(values),
                     tuple(better[:shown]))
