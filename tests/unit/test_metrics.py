import math

import pytest
import torch

from neurontest.measure.metrics import average_precision, score_predicate


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
