"""What a verdict of an activation claim rests on: each metric's own support, and chance.

docs/metrics.md, "Verdicts", gives the rules; this module holds them as data and small functions
so every claim kind that scores a predicate applies the same ones:

* support: each metric rests on its own positions (precision on the firing ones, recall on the
  claimed ones, F1/IoU on both, the ranking and correlation metrics on both classes);
* chance: what a unit that ignores the text scores against the same predicate, from the base
  rate p (the share of positions the predicate claims) and the firing rate q, and empirically
  from the same activations shuffled across corpus windows. A bound that chance also meets
  says nothing about the unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from neurontest.measure.metrics import OPERATING_POINT_METRICS, operating_point, score_predicate
from neurontest.measure.power import design_effect, estimate_power

if TYPE_CHECKING:

    from neurontest.claims.bounds import Bound
    from neurontest.lab import Lab
    from neurontest.measure.power import PowerEstimate

#: The position counts each metric rests on (names of `support_counts` keys).
SUPPORT = {
    "precision": ("firing",),
    "recall": ("claimed",),
    "f1": ("claimed", "firing"),
    "iou": ("claimed", "firing"),
    "auprc": ("claimed", "unclaimed"),
    "pearson": ("claimed", "unclaimed"),
    "variance_explained": ("claimed", "unclaimed"),
    "balanced_accuracy": ("claimed", "unclaimed"),
    "recall_at_precision": ("claimed", "unclaimed"),
    "precision_at_recall": ("claimed", "unclaimed"),
}

_SIDE_WORDS = {"firing": "firing positions", "claimed": "claimed positions",
               "unclaimed": "unclaimed positions"}
SHUFFLE_SEED = 0


def support_counts(scores: dict[str, float]) -> dict[str, int]:
    """Positions on each side, from `score_predicate`'s counts."""
    n, n_c, n_y = int(scores["n_positions"]), int(scores["n_claimed"]), int(scores["n_firing"])
    return {"claimed": n_c, "firing": n_y, "unclaimed": n - n_c}


def thin_support(metric: str, counts: dict[str, int], needed: int) -> str:
    """Why `metric` rests on too few positions ("" if every side it needs has `needed`)."""
    short = [(side, counts[side]) for side in SUPPORT.get(metric, ()) if counts[side] < needed]
    if not short:
        return ""
    parts = [f"{found:,} {_SIDE_WORDS[side]} ({needed - found:,} more needed)" for side, found in short]
    return f"{metric} rests on {' and '.join(parts)}; a verdict needs {needed} on each side"


def chance_scores(base_rate: float, firing_rate: float,
                  operating: dict[str, float] | None = None) -> dict[str, float]:
    """Each metric's expected value for a unit whose firing ignores the text: firing at rate q
    independently of a predicate that claims a share p of positions."""
    p, q = base_rate, firing_rate
    scores = {
        "precision": p,
        "recall": q,
        "f1": 2 * p * q / (p + q) if p + q else 0.0,
        "iou": p * q / (p + q - p * q) if p + q - p * q else 0.0,
        "auprc": p,
        "pearson": 0.0,
        "variance_explained": 0.0,
        "balanced_accuracy": 0.5,
    }
    for name, level in (operating or {}).items():
        # A random ranking keeps precision near p at every cut: recall 1 at any precision
        # level up to p, none above; precision p at any recall level.
        scores[name] = (1.0 if level <= p else 0.0) if name == "recall_at_precision" else p
    return scores


def shuffled_scores(values: torch.Tensor, claimed: torch.Tensor, mask: torch.Tensor, tau: float,
                    operating: dict[str, float] | None = None, seed: int = SHUFFLE_SEED) -> dict[str, float]:
    """The metrics of the same activations moved to other corpus windows (rows permuted, seeded):
    a unit with this unit's own distribution of values that does not read the text."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(values.shape[0], generator=generator)
    shuffled = values[order]
    both = mask & mask[order]  # positions scorable in both windows
    a, c = shuffled[both], claimed[both]
    scores = score_predicate(a, c, tau)
    for name, level in (operating or {}).items():
        scores[name] = operating_point(name, a, c, level)
    return scores


def vacuous_bound(metric: str, bound: Bound, chance: dict[str, float],
                  shuffled: dict[str, float] | None, base_rate: float) -> str:
    """Why `bound` on `metric` says nothing beyond chance ("" if it does say something)."""
    for label, scores in (("a unit that ignores the text", chance),
                          ("the same activations shuffled across windows", shuffled or {})):
        value = scores.get(metric)
        if value is not None and bound.holds(value):
            return (f"`{metric}: '{bound}'` holds for {label} ({metric} {value:.3g}; base rate "
                    f"{base_rate:.3g}): tighten the bound past chance or narrow the predicate")
    return ""


def operating_level_problem(name: str, level: float, base_rate: float) -> str:
    """`at_precision` at or below the base rate is met by ranking positions at random."""
    if OPERATING_POINT_METRICS.get(name) == "at_precision" and level <= base_rate:
        return (f"`at_precision: {level:g}` is at or below the predicate's base rate "
                f"({base_rate:.3g}), so any ranking reaches it with full recall; set it above "
                f"{base_rate:.3g}")
    return ""


def cluster_ids(lab: Lab, mask: torch.Tensor) -> torch.Tensor:
    """The cluster of each scorable position that the bootstrap resamples: its document where
    the corpus knows it (windows of one document are not independent), else its window."""
    rows = mask.nonzero()[:, 0]
    documents = getattr(lab.sample, "documents", None)
    if documents is not None and len(documents) == mask.shape[0]:
        return torch.as_tensor(documents, dtype=torch.long)[rows]
    return rows


def share_estimates(scores: dict[str, float], samples: dict[str, torch.Tensor], sides: set[str], *,
                    level: float, half_width: float = 0.05) -> list[PowerEstimate]:
    """For recall (the claimed side) and precision (the firing side), as `sides` asks: the
    share now and the positions, and corpus tokens at this rate, that pin it to +-`half_width`
    (the design effect of clustering from the bootstrap `samples` counted in)."""
    n_positions = max(int(scores["n_positions"]), 1)
    estimates = []
    for share, side, count in (("recall", "claimed", "n_claimed"), ("precision", "firing", "n_firing")):
        if side not in sides:
            continue
        k, n = scores["n_both"], int(scores[count])
        p = k / n if n else 0.0
        spread = samples.get(share)
        deff = 1.0
        if spread is not None and spread.numel() > 1 and n and 0 < p < 1:
            deff = design_effect(float(spread.var()), p * (1 - p) / n)
        estimates.append(estimate_power(share, k, n, rate=(n / n_positions) or None,
                                        half_width=half_width, level=level, design_effect=deff,
                                        unit=f"{side} positions"))
    return estimates
