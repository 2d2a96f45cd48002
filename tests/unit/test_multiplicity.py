"""One-sided p-values of a bound and their adjustment over a suite (Holm, Benjamini-Hochberg)."""

import itertools
import math
import random
from statistics import NormalDist

import pytest
import torch

from neurontest.measure.intervals import (
    bootstrap_p_value, student_t_cdf, t_p_value, wilson_p_value,
)
from neurontest.measure.multiplicity import adjust, benjamini_hochberg, holm

P = [0.01, 0.04, 0.03, 0.005]


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max
    assert holm(P) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.4]) == pytest.approx([0.8, 0.8])  # 0.4 * 2, then the running max
    assert holm([0.7, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_benjamini_hochberg_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4/1, 4/2, 4/3, 4/4 = 0.02, 0.02, 0.04, 0.04
    assert benjamini_hochberg(P) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    # step-up: a large p-value lowers nothing, a later small one pulls earlier ones down
    assert benjamini_hochberg([0.04, 0.05]) == pytest.approx([0.05, 0.05])
    assert benjamini_hochberg([0.9, 0.8]) == pytest.approx([0.9, 0.9])


def test_empty_and_single_inputs():
    for method in ("none", "holm", "bh"):
        assert adjust([], method) == []
        assert adjust([0.2], method) == pytest.approx([0.2])


def test_adjusted_values_do_not_depend_on_input_order():
    rng = random.Random(0)
    values = [rng.random() ** 3 for _ in range(7)] + [0.01, 0.01]  # a tie as well
    reference = {"holm": holm(values), "bh": benjamini_hochberg(values)}
    for perm in itertools.islice(itertools.permutations(range(len(values))), 0, 5000, 97):
        shuffled = [values[i] for i in perm]
        for method, expected in reference.items():
            assert adjust(shuffled, method) == pytest.approx([expected[i] for i in perm])
    # Holm is never below BH, and neither is below the raw p-value.
    for raw, h, b in zip(values, reference["holm"], reference["bh"]):
        assert raw <= b <= h <= 1.0


def test_adjust_names_the_valid_methods():
    assert adjust(P, "none") == P
    with pytest.raises(ValueError, match="use one of none, holm, bh"):
        adjust(P, "bonferroni")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.5, math.nan])


def test_bootstrap_p_value_counts_resamples_on_the_wrong_side():
    samples = torch.tensor([0.1, 0.2, 0.3, 0.4])
    assert bootstrap_p_value(samples, ">=", 0.25) == pytest.approx(3 / 5)  # 0.1, 0.2 fail
    assert bootstrap_p_value(samples, ">", 0.2) == pytest.approx(3 / 5)    # 0.2 fails ">"
    assert bootstrap_p_value(samples, ">=", 0.2) == pytest.approx(2 / 5)
    assert bootstrap_p_value(samples, "<=", 0.3) == pytest.approx(2 / 5)
    assert bootstrap_p_value(samples, "<", 0.3) == pytest.approx(3 / 5)
    # No resample on the wrong side: the normal tail of the resamples, at most 1 / (1 + n), so a
    # strong claim keeps a p-value that Holm over many claims can still use.
    strong = bootstrap_p_value(samples, ">=", 0.0)
    assert 0 < strong < 1 / 5
    assert strong == pytest.approx(1 - NormalDist().cdf(0.25 / float(samples.double().std())))
    assert bootstrap_p_value(torch.full((4,), 0.5), ">=", 0.1) == 0.0
    assert bootstrap_p_value(torch.tensor([0.5, math.nan]), ">=", 0.9) == 1.0
    assert bootstrap_p_value(samples, "==", 0.2) is None


def test_wilson_p_value_is_the_one_sided_score_test():
    # 60 of 100 against 0.5: z = 0.1 / 0.05 = 2, p = 1 - Phi(2)
    assert wilson_p_value(60, 100, ">=", 0.5) == pytest.approx(0.0227501, abs=1e-6)
    assert wilson_p_value(60, 100, "<=", 0.5) == pytest.approx(1 - 0.0227501, abs=1e-6)
    assert wilson_p_value(40, 100, "<", 0.5) == pytest.approx(0.0227501, abs=1e-6)
    assert wilson_p_value(5, 0, ">=", 0.5) == 1.0  # nothing known
    assert wilson_p_value(3, 10, "==", 0.3) is None
    # Null at the edge of [0, 1]: possible or impossible data, never a division by zero.
    assert wilson_p_value(0, 10, ">=", 0.0) == 0.0 and wilson_p_value(3, 10, ">", 0.0) == 0.0
    assert wilson_p_value(0, 10, ">", 0.0) == 1.0 and wilson_p_value(10, 10, ">=", 1.0) == 1.0
    assert wilson_p_value(10, 10, "<=", 1.0) == 0.0 and wilson_p_value(10, 10, "<", 1.0) == 1.0
    assert wilson_p_value(9, 10, "<", 1.0) == 0.0 and wilson_p_value(0, 10, "<=", 0.0) == 1.0
    with pytest.raises(ValueError, match="unknown bound operator"):
        wilson_p_value(1, 2, "=>", 0.5)


def test_t_p_value_is_the_one_sided_t_test():
    # mean 2, sd 1, n 3 against 0: t = 2 sqrt(3), 2 degrees of freedom
    t = 2 * math.sqrt(3)
    expected = 0.5 * (1 - t / math.sqrt(2 + t * t))
    assert t_p_value([1.0, 2.0, 3.0], ">=", 0.0) == pytest.approx(expected, abs=1e-12)
    assert t_p_value([1.0, 2.0, 3.0], "<", 0.0) == pytest.approx(1 - expected, abs=1e-12)
    assert t_p_value([1.0, 2.0, 3.0, 4.0, 5.0], ">", 2.0) == pytest.approx(
        1 - student_t_cdf(1 / (math.sqrt(2.5) / math.sqrt(5)), 4))
    assert t_p_value([1.0], ">=", 0.0) == 1.0
    assert t_p_value([0.3, 0.3], ">=", 0.2) == 0.0 and t_p_value([0.3, 0.3], "<=", 0.2) == 1.0
    assert t_p_value([0.2, 0.2], ">=", 0.2) == 1.0  # not strictly on the claimed side
    assert t_p_value([1.0, 2.0], "==", 1.5) is None
