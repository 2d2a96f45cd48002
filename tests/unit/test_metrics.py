import math

import pytest
import torch

from neurontest.measure.intervals import (
    clustered_mean_interval, grouped_mean_interval, hull, student_t_cdf, student_t_quantile,
    t_interval, wilson, window_bootstrap, window_bootstrap_samples,
)
from neurontest.measure.metrics import (
    average_precision, precision_at_recall, precision_recall_curve, recall_at_precision,
    score_predicate,
)


def test_counts_and_definitions_on_a_hand_example():
    a = torch.tensor([5.0, 4.0, 0.0, 3.0, 0.0, 0.0])
    c = torch.tensor([True, True, True, False, False, False])
    m = score_predicate(a, c, tau=1.0)
    # firing: positions 0, 1, 3; claimed: 0, 1, 2 -> tp 2, fp 1 (pos 2), fn 1 (pos 3)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["iou"] == pytest.approx(2 / 4)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert m["tau"] == 1.0 and m["n_positions"] == 6


def test_perfect_predicate_scores_one_everywhere():
    a = torch.tensor([0.0, 7.0, 0.0, 7.0])
    c = a > 1
    m = score_predicate(a, c, tau=1.0)
    for name in ("precision", "recall", "f1", "iou", "auprc", "pearson", "variance_explained"):
        assert m[name] == pytest.approx(1.0), name


def test_average_precision_matches_ranking():
    a = torch.tensor([0.9, 0.8, 0.7, 0.1])
    c = torch.tensor([True, False, True, False])
    # ranks: hit at 1 (p=1), miss, hit at 3 (p=2/3) -> AP = (1 + 2/3) / 2
    assert average_precision(a, c) == pytest.approx((1 + 2 / 3) / 2)


def _sklearn_average_precision(a: list[float], c: list[bool]) -> float:
    """scikit-learn's average_precision_score in pure Python: one threshold per distinct score."""
    n_pos = sum(c)
    ap, hits, fired, recall_before = 0.0, 0, 0, 0.0
    for t in sorted(set(a), reverse=True):
        group = [ci for ai, ci in zip(a, c) if ai == t]
        hits, fired = hits + sum(group), fired + len(group)
        ap += (hits / n_pos - recall_before) * hits / fired
        recall_before = hits / n_pos
    return ap


def test_average_precision_of_a_dead_unit_is_the_base_rate_in_any_order():
    # All activations tie: one threshold, precision = base rate at recall 1, wherever the
    # claimed positions sit (the position-ordered sum gave 1.0 here and 0.216 reversed).
    a = torch.zeros(10)
    first = torch.tensor([True] * 3 + [False] * 7)
    assert average_precision(a, first) == pytest.approx(0.3, abs=1e-12)
    assert average_precision(a, first.flip(0)) == pytest.approx(0.3, abs=1e-12)


def test_average_precision_of_a_relu_unit_counts_the_zeros_as_one_threshold():
    a = [2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 3.0, 0.0]
    c = [True, True, False, False, False, True, True, False]
    # cuts high to low: 3 (R .25, P 1), 2 (R .5, P 1), 1 (R .5, P 2/3), 0 (R 1, P 4/8)
    # -> .25 + .25 + 0 + .5 * .5 = 0.75 (ranking the zeros by position gave 0.830)
    assert _sklearn_average_precision(a, c) == pytest.approx(0.75)
    assert average_precision(torch.tensor(a), torch.tensor(c)) == pytest.approx(0.75, abs=1e-12)


def test_average_precision_of_bf16_rounded_activations_groups_the_new_ties():
    generator = torch.Generator().manual_seed(3)
    raw = torch.relu(torch.randn(2000, generator=generator))
    c = torch.rand(2000, generator=generator) < 0.2 + 0.5 * (raw > 1)
    a = raw.to(torch.bfloat16).float()
    assert len(torch.unique(a)) < 0.6 * len(torch.unique(raw))  # bf16 makes many ties
    expected = _sklearn_average_precision(a.tolist(), c.tolist())
    assert average_precision(a, c) == pytest.approx(expected, abs=1e-12)
    shuffled = torch.randperm(2000, generator=generator)
    assert average_precision(a[shuffled], c[shuffled]) == pytest.approx(expected, abs=1e-12)


def test_bootstrap_auprc_groups_ties_like_the_point_value():
    from neurontest.measure.intervals import _ranking_samples

    a = torch.tensor([2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 3.0, 0.0])
    c = torch.tensor([True, True, False, False, False, True, True, False])
    groups = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    # Every window drawn once reproduces the corpus: the resample's AP is the point AP.
    one = _ranking_samples(a, c, groups, torch.ones(1, 4, dtype=torch.float64), {})["auprc"]
    assert float(one[0]) == pytest.approx(0.75, abs=1e-6)


def test_bootstrap_auprc_of_a_dead_unit_contains_the_base_rate():
    generator = torch.Generator().manual_seed(1)
    a = torch.zeros(100 * 20)
    c = torch.rand(100 * 20, generator=generator) < 0.15
    groups = torch.arange(100).repeat_interleave(20)
    point = score_predicate(a, c, 0.5)
    base_rate = float(c.float().mean())
    assert point["auprc"] == pytest.approx(base_rate)
    lo, hi = window_bootstrap(a, c, groups, 0.5, point)["auprc"]
    assert lo < base_rate < hi and hi - lo < 0.1


def test_variance_explained_is_between_group_share():
    a = torch.tensor([1.0, 1.0, 3.0, 3.0])
    c = torch.tensor([False, False, True, True])
    assert score_predicate(a, c, 2.0)["variance_explained"] == pytest.approx(1.0)
    a2 = torch.tensor([1.0, 3.0, 1.0, 3.0])
    assert score_predicate(a2, c, 2.0)["variance_explained"] == pytest.approx(0.0)


def test_empty_claim_gives_zero_not_nan():
    a = torch.tensor([0.0, 2.0])
    m = score_predicate(a, torch.tensor([False, False]), 1.0)
    assert all(not math.isnan(v) for v in m.values())
    assert m["precision"] == 0.0


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in size"):
        score_predicate(torch.zeros(3), torch.zeros(2, dtype=torch.bool), 0.5)


def test_precision_is_only_and_recall_is_all_as_the_field_reads_them():
    # The neuron is the classifier, the claim the label (NeuronEval, arXiv 2506.05774).
    a = torch.tensor([5.0, 5.0, 5.0, 5.0, 0.0, 0.0, 0.0, 0.0])
    c = torch.tensor([True, False, False, False, False, False, False, False])
    m = score_predicate(a, c, tau=1.0)
    # fires at 4 positions, 1 of them claimed: precision ("only") 1/4; the one claimed fires:
    # recall ("all") 1.
    assert m["precision"] == pytest.approx(1 / 4)
    assert m["recall"] == pytest.approx(1.0)
    assert (m["n_firing"], m["n_claimed"], m["n_both"]) == (4, 1, 1)
    # balanced accuracy takes the claim as the label: TPR 1, TNR 4/7 silent off the claim.
    assert m["balanced_accuracy"] == pytest.approx((1 + 4 / 7) / 2)


def test_operating_points_follow_the_ranking():
    a = torch.tensor([9.0, 8.0, 7.0, 6.0, 5.0, 4.0])
    c = torch.tensor([True, True, False, True, False, True])
    # cuts: top1 P1 R.25, top2 P1 R.5, top3 P.67 R.5, top4 P.75 R.75, top5 P.6 R.75, all P.67 R1
    assert recall_at_precision(a, c, 1.0) == pytest.approx(0.5)
    assert recall_at_precision(a, c, 0.7) == pytest.approx(0.75)
    assert precision_at_recall(a, c, 1.0) == pytest.approx(4 / 6)
    assert precision_at_recall(a, c, 0.6) == pytest.approx(0.75)
    assert recall_at_precision(a, torch.zeros(6, dtype=torch.bool), 0.5) == 0.0


def test_tied_activations_are_one_threshold():
    a = torch.tensor([3.0, 3.0, 1.0])
    c = torch.tensor([True, False, True])
    precision, recall = precision_recall_curve(a, c)
    # No cut separates the two tied 3.0s: precision 1 at recall 0.5 is not reachable.
    assert precision.tolist() == pytest.approx([0.5, 2 / 3])
    assert recall_at_precision(a, c, 1.0) == 0.0


def test_wilson_interval_contains_the_share_and_narrows_with_n():
    lo, hi = wilson(10, 100)
    assert lo < 0.1 < hi and (lo, hi) == pytest.approx((0.0552, 0.1744), abs=1e-3)
    narrow = wilson(100, 1000)
    assert narrow[1] - narrow[0] < hi - lo
    assert wilson(0, 0) == (0.0, 1.0) and wilson(5, 5)[1] == 1.0


def _windows(n_windows=200, width=20, seed=0):
    generator = torch.Generator().manual_seed(seed)
    a = torch.rand(n_windows, width, generator=generator)
    c = torch.rand(n_windows, width, generator=generator) < 0.1
    a[c] += 1.0
    groups = torch.arange(n_windows).repeat_interleave(width)
    return a.reshape(-1), c.reshape(-1), groups


def test_window_bootstrap_is_deterministic_and_contains_the_value():
    a, c, groups = _windows()
    point = score_predicate(a, c, 0.9) | {"recall_at_precision": recall_at_precision(a, c, 0.9)}
    first = window_bootstrap(a, c, groups, 0.9, point, operating={"recall_at_precision": 0.9})
    again = window_bootstrap(a, c, groups, 0.9, point, operating={"recall_at_precision": 0.9})
    assert first == again
    for name in ("f1", "iou", "auprc", "pearson", "variance_explained", "balanced_accuracy",
                 "recall_at_precision"):
        lo, hi = first[name]
        assert lo <= point[name] <= hi and hi - lo < 0.3, name
    # A 99% interval is wider than a 95% one.
    wide = window_bootstrap(a, c, groups, 0.9, point, level=0.99)
    assert wide["f1"][1] - wide["f1"][0] > first["f1"][1] - first["f1"][0]


def test_window_bootstrap_resamples_whole_windows():
    # Half the windows fire on every claimed position, half on none: positions within a window
    # agree, so resampling windows (not positions) must give the wider interval.
    a = torch.tensor(([5.0] * 10 + [0.0] * 10) * 10)
    c = torch.ones_like(a, dtype=torch.bool)  # IoU is then the share of firing positions
    point = score_predicate(a, c, 1.0)
    by_window = window_bootstrap(a, c, torch.arange(20).repeat_interleave(10), 1.0, point)["iou"]
    by_position = window_bootstrap(a, c, torch.arange(200), 1.0, point)["iou"]
    # ~sqrt(10) wider: 20 independent windows, not 200 independent positions.
    assert by_window[1] - by_window[0] > 2 * (by_position[1] - by_position[0])
    assert window_bootstrap(a, c, torch.zeros(200, dtype=torch.long), 1.0, point) == {}


def test_window_bootstrap_gives_cluster_intervals_for_precision_and_recall():
    # Claimed positions fire in whole windows or not at all: Wilson (positions independent)
    # is too narrow, the cluster bootstrap is not.
    a = torch.tensor(([5.0] * 10 + [0.0] * 10) * 10)
    c = torch.ones_like(a, dtype=torch.bool)
    groups = torch.arange(20).repeat_interleave(10)
    point = score_predicate(a, c, 1.0)
    intervals = window_bootstrap(a, c, groups, 1.0, point)
    lo, hi = intervals["recall"]
    w_lo, w_hi = wilson(point["n_both"], point["n_claimed"])
    assert lo <= 0.5 <= hi and hi - lo > 2 * (w_hi - w_lo)
    assert intervals["precision"] == (1.0, 1.0)  # every firing position is claimed
    # Only the metrics named in `point` come back.
    assert set(window_bootstrap(a, c, groups, 1.0, {"recall": 0.5})) == {"recall"}


def test_window_bootstrap_samples_are_the_resamples_behind_the_interval():
    a, c, groups = _windows()
    point = score_predicate(a, c, 0.9)
    samples = window_bootstrap_samples(a, c, groups, 0.9, point)
    assert set(samples) == {"precision", "recall", "f1", "iou", "auprc", "pearson",
                            "variance_explained", "balanced_accuracy"}
    assert samples["recall"].shape == (400,) and bool(torch.isfinite(samples["recall"]).all())
    lo, hi = torch.quantile(samples["recall"], torch.tensor([0.025, 0.975], dtype=torch.float64))
    assert window_bootstrap(a, c, groups, 0.9, point)["recall"] == pytest.approx(
        (min(float(lo), point["recall"]), max(float(hi), point["recall"])))
    assert window_bootstrap_samples(a, c, torch.zeros_like(groups), 0.9, point) == {}


def test_hull_is_the_smallest_interval_containing_both():
    assert hull((0.1, 0.3), (0.2, 0.5)) == (0.1, 0.5)
    assert hull((0.1, 0.3), None) == (0.1, 0.3) and hull(None, (0.2, 0.5)) == (0.2, 0.5)
    assert hull(None, None) is None


def test_grouped_mean_interval_resamples_texts():
    lo, hi = grouped_mean_interval([-1.0, -1.2, -0.8, -3.0], [0, 0, 1, 2])
    assert lo <= -1.5 <= hi and lo >= -3.0 and hi <= -0.8
    assert grouped_mean_interval([-1.0, -2.0], [0, 0]) is None


@pytest.mark.parametrize("p, df, table", [
    (0.975, 1, 12.7062047362), (0.975, 2, 4.3026527297), (0.975, 4, 2.7764451052),
    (0.975, 30, 2.0422724563), (0.995, 10, 3.1692726726), (0.025, 5, -2.5705818356),
])
def test_student_t_quantile_matches_the_tables(p, df, table):
    assert student_t_quantile(p, df) == pytest.approx(table, abs=1e-6)
    assert student_t_cdf(student_t_quantile(p, df), df) == pytest.approx(p, abs=1e-12)


def test_student_t_has_its_closed_forms_at_one_and_two_degrees_of_freedom():
    for x in (-30.0, -2.0, -0.5, 0.0, 0.7, 3.0, 100.0):
        assert student_t_cdf(x, 1) == pytest.approx(0.5 + math.atan(x) / math.pi, abs=1e-12)
        assert student_t_cdf(x, 2) == pytest.approx(0.5 + x / (2 * math.sqrt(2 + x * x)), abs=1e-12)
    assert student_t_quantile(0.9995, 1) == pytest.approx(math.tan(math.pi * 0.4995), rel=1e-9)
    # Many degrees of freedom: the normal quantile.
    assert student_t_quantile(0.975, 100_000) == pytest.approx(1.959985, abs=1e-4)
    with pytest.raises(ValueError):
        student_t_quantile(1.0, 3)


def test_t_interval_uses_n_minus_one_degrees_of_freedom():
    lo, hi = t_interval([1.0, 2.0, 3.0])
    # mean 2, sd 1, t_{0.975,2} = 4.3027: 2 +- 4.3027 / sqrt(3)
    assert (lo, hi) == pytest.approx((2 - 4.3026527297 / math.sqrt(3), 2 + 4.3026527297 / math.sqrt(3)))
    assert t_interval([2.5, 2.5, 2.5]) == (2.5, 2.5)
    assert t_interval([1.0]) is None and t_interval([]) is None
    assert t_interval([1.0, 2.0, 3.0], 0.99)[1] > hi


def test_clustered_mean_interval_counts_each_text_once():
    # Texts 0, 1, 2 with means -1.1, -0.8, -3.0: the t interval of those three means.
    values, groups = [-1.0, -1.2, -0.8, -3.0], [0, 0, 1, 2]
    assert clustered_mean_interval(values, groups) == pytest.approx(t_interval([-1.1, -0.8, -3.0]))
    assert clustered_mean_interval([-1.0, -2.0], [0, 0]) is None
    with pytest.raises(ValueError, match="differ in size"):
        clustered_mean_interval([1.0], [0, 1])


def test_ranking_intervals_ignore_positions_below_every_claimed_one():
    a, c, groups = _windows()
    extra = torch.full((400,), -1.0)  # below every claimed activation, in the same windows
    a2 = torch.cat([a, extra])
    c2 = torch.cat([c, torch.zeros(400, dtype=torch.bool)])
    g2 = torch.cat([groups, torch.arange(200).repeat(2)])
    operating = {"precision_at_recall": 0.9}
    point = score_predicate(a, c, 0.9) | {"precision_at_recall": precision_at_recall(a, c, 0.9)}
    point2 = score_predicate(a2, c2, 0.9) | {"precision_at_recall": precision_at_recall(a2, c2, 0.9)}
    assert point2["auprc"] == pytest.approx(point["auprc"])
    one = window_bootstrap(a, c, groups, 0.9, point, operating=operating)
    two = window_bootstrap(a2, c2, g2, 0.9, point2, operating=operating)
    for name in ("auprc", "precision_at_recall"):
        assert two[name] == pytest.approx(one[name]), name


@pytest.mark.parametrize("share", [0.0, 0.01, 0.122, 0.5, 0.9, 1.0])
def test_positions_needed_is_the_fewest_whose_wilson_interval_is_narrow_enough(share):
    from neurontest.measure.power import positions_needed

    n = positions_needed(share, 0.05)
    half = lambda m: (wilson(share * m, m)[1] - wilson(share * m, m)[0]) / 2  # noqa: E731
    assert half(n) <= 0.05 + 1e-12 and (n == 1 or half(n - 1) > 0.05)


def test_positions_needed_asks_for_some_positions_at_shares_of_zero_and_one():
    from neurontest.measure.power import positions_needed

    # The normal rule z^2 p (1 - p) / h^2 asks for none; Wilson asks for z^2 / (2h) - z^2.
    assert positions_needed(0.0) == positions_needed(1.0) == 35
    assert positions_needed(0.5) == 381  # the normal rule says 385
    assert positions_needed(0.5, design_effect=2.0) == 762
    assert positions_needed(0.5, 0.01) > 9000 and positions_needed(0.5, 0.5) == 1
    for bad in ({"share": 1.2}, {"share": 0.5, "half_width": 0.0}, {"share": 0.5, "design_effect": 0}):
        with pytest.raises(ValueError):
            positions_needed(**bad)


def test_design_effect_and_tokens_needed():
    from neurontest.measure.power import design_effect, tokens_needed

    assert design_effect(0.004, 0.001) == pytest.approx(4.0)
    assert design_effect(0.0005, 0.001) == 1.0 and design_effect(0.1, 0.0) == 1.0
    assert design_effect(math.nan, 0.001) == 1.0
    assert tokens_needed(168, 0.054) == 3112 and tokens_needed(3, 0.1) == 30
    assert tokens_needed(168, 0.0) is None


def test_power_estimate_says_it_in_one_line():
    from neurontest.measure.power import PowerEstimate, estimate_power, positions_needed

    line = PowerEstimate("recall", 0.122, 0.008, 5547, 168, 3112).describe()
    assert line == ("recall = 0.122 +- 0.008 on 5,547 claimed positions; +-0.05 needs 168 "
                    "(about 3,100 corpus tokens at this rate)")
    assert PowerEstimate("precision", 0.5, 0.2, 20, 381, None, unit="firing positions").describe() == (
        "precision = 0.500 +- 0.200 on 20 firing positions; +-0.05 needs 381")
    estimate = estimate_power("recall", 12, 40, rate=0.01)
    lo, hi = wilson(12, 40)
    assert estimate.value == 0.3 and estimate.half_width_now == pytest.approx((hi - lo) / 2)
    assert estimate.positions_needed == positions_needed(0.3) == 320  # the normal rule: 323
    assert estimate.tokens_needed == 32_000  # 320 claimed positions at 1 per 100 tokens
    assert estimate_power("recall", 0, 0).value == 0.5  # nothing known: the costliest share
