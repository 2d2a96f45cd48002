"""Do the 95% intervals cover the truth 95% of the time? Seeded simulations with a known truth.

* Clustered positions: claimed tokens and firing cluster in windows, as in real text. Wilson
  treats positions as independent and undercovers; the window bootstrap does not.
* Few texts: a mean effect over n texts. The percentile bootstrap over texts undercovers; the
  t interval with n-1 degrees of freedom does not (exactly so for normal effects).

`pytest -s tests/unit/test_interval_coverage.py` prints the coverages; docs/metrics.md records
them. The simulations run single-threaded: on a small shared machine torch's thread pool costs
more than these tiny tensors gain from it.
"""

from __future__ import annotations

import random

import pytest
import torch

from neurontest.measure.intervals import (
    clustered_mean_interval, grouped_mean_interval, hull, wilson, window_bootstrap,
)

NOMINAL = 0.95


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def clustered_recall_coverage(replications: int = 200, windows: int = 300, width: int = 64,
                              seed: int = 0) -> tuple[float, float, float]:
    """(Wilson, window bootstrap, their hull) coverage of the true recall 0.25 over `replications` corpora.

    Per window: a claimed rate ~ Beta(0.5, 4) (mean 0.11, most windows claim little, a few a
    lot) and a firing probability on claimed tokens ~ Beta(1, 3) (mean 0.25; the per-window
    random effect makes firing agree within a window). Rate and firing are independent, so the
    true recall is E[firing probability] = 0.25."""
    rng, generator = random.Random(seed), torch.Generator().manual_seed(seed)
    true_recall = 0.25
    groups = torch.arange(windows).repeat_interleave(width)
    counts = {"wilson": 0, "bootstrap": 0, "hull": 0}
    for _ in range(replications):
        rate = torch.tensor([rng.betavariate(0.5, 4.0) for _ in range(windows)])
        fire = torch.tensor([rng.betavariate(1.0, 3.0) for _ in range(windows)])
        c = (torch.rand(windows, width, generator=generator) < rate[:, None]).reshape(-1)
        a = (torch.rand(windows, width, generator=generator) < fire[:, None]).reshape(-1).float()
        k, n = float((c & (a > 0.5)).sum()), float(c.sum())
        by_positions = wilson(k, n, NOMINAL)
        by_windows = window_bootstrap(a, c, groups, 0.5, {"recall": k / n}, level=NOMINAL)["recall"]
        for interval, covered in ((by_positions, "wilson"), (by_windows, "bootstrap"),
                                  (hull(by_positions, by_windows), "hull")):
            counts[covered] += interval[0] <= true_recall <= interval[1]
    return tuple(counts[name] / replications for name in ("wilson", "bootstrap", "hull"))


def few_texts_coverage(texts: int, effects: str = "normal", replications: int = 500,
                       per_text: int = 4, seed: int = 0) -> tuple[float, float]:
    """(t interval over per-text means, bootstrap over texts) coverage of a true mean effect -1.

    Each text's effect is drawn from N(-1, 0.5^2) ("normal") or -Exp(1) ("skewed", mean -1);
    each of its `per_text` positions adds N(0, 0.3^2) noise."""
    rng = random.Random(seed)
    covered_t = covered_bootstrap = 0
    for _ in range(replications):
        values, groups = [], []
        for text in range(texts):
            effect = rng.gauss(-1.0, 0.5) if effects == "normal" else -rng.expovariate(1.0)
            values += [effect + rng.gauss(0.0, 0.3) for _ in range(per_text)]
            groups += [text] * per_text
        lo, hi = clustered_mean_interval(values, groups, NOMINAL)
        covered_t += lo <= -1.0 <= hi
        lo, hi = grouped_mean_interval(values, groups, level=NOMINAL)
        covered_bootstrap += lo <= -1.0 <= hi
    return covered_t / replications, covered_bootstrap / replications


def test_window_bootstrap_recall_covers_clustered_positions(one_thread):
    wilson_coverage, bootstrap_coverage, hull_coverage = clustered_recall_coverage()
    print(f"\nrecall, 300 windows x 64 positions, 200 replications, nominal {NOMINAL}: "
          f"Wilson {wilson_coverage:.3f}, window bootstrap {bootstrap_coverage:.3f}, "
          f"hull of both {hull_coverage:.3f}")
    assert bootstrap_coverage >= 0.90 and hull_coverage >= bootstrap_coverage
    assert wilson_coverage < bootstrap_coverage - 0.1  # positions are not independent


@pytest.mark.parametrize("texts", [2, 3, 5, 10])
def test_t_interval_covers_a_mean_over_few_texts(texts, one_thread):
    t_coverage, bootstrap_coverage = few_texts_coverage(texts)
    print(f"\nmean effect, {texts} texts (normal effects), 500 replications, nominal {NOMINAL}: "
          f"t interval {t_coverage:.3f}, bootstrap over texts {bootstrap_coverage:.3f}")
    assert t_coverage >= 0.90
    assert bootstrap_coverage < t_coverage


def test_t_interval_beats_the_bootstrap_on_skewed_effects(one_thread):
    # Skewed effects cost the t interval some coverage too, but far less than the bootstrap.
    t_coverage, bootstrap_coverage = few_texts_coverage(5, effects="skewed")
    print(f"\nmean effect, 5 texts (skewed effects), 500 replications, nominal {NOMINAL}: "
          f"t interval {t_coverage:.3f}, bootstrap over texts {bootstrap_coverage:.3f}")
    assert t_coverage >= 0.85 and bootstrap_coverage < t_coverage - 0.05
