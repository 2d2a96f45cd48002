"""Verdicts on the planted model: plain-words metrics with intervals, evidence order,
`confidence:`, inconclusive claims, operating points, and self-explaining logit attribution."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from neurontest.claims.runner import ClaimRunner  # noqa: E402
from neurontest.claims.activation import FALSE_NEGATIVES, FALSE_POSITIVES, ActivationClaim  # noqa: E402
from neurontest.claims.base import (  # noqa: E402
    Bound, Measurement, Subject, Threshold, result_from_dict, result_to_dict,
)
from neurontest.claims.settings import RunSettings  # noqa: E402
from neurontest.claims.logit_attribution import LogitAttributionClaim  # noqa: E402
from neurontest.claims.messages import failure_message  # noqa: E402
from neurontest.claims.predicates import predicate_from_dict  # noqa: E402
from neurontest.engine.models.planted import MONTHS, PROMOTED  # noqa: E402


def activation(planted, lab, tokens, settings=RunSettings(), **config):
    subject = Subject(planted.month.neuron, predicate_from_dict({"tokens": tokens}), Threshold(1.0))
    ActivationClaim.validate_options(config)
    claim = ActivationClaim(subject, config)
    return claim, ClaimRunner(lab, settings=settings).run(claim)


def test_measurements_say_the_metric_in_words_with_counts_and_an_interval(planted, lab):
    claim, result = activation(planted, lab, MONTHS + ["cat"], precision=">= 0.9", f1=">= 0")
    precision = next(m for m in result.measurements if m.name == "precision")
    recall = next(m for m in result.measurements if m.name == "recall")
    # "cat" is claimed but the month neuron stays silent on it: recall drops, precision does not.
    assert precision.value == 1.0 and recall.value < 0.9
    assert precision.detail.startswith("of the ") and "positions where it fires, 100.0% are what" in precision.detail
    assert "positions the claim names, it fires on" in recall.detail
    assert all(m.interval is not None and m.interval[0] <= m.value <= m.interval[1]
               for m in result.measurements), "every rate metric carries its interval"
    assert "95% CI" in str(precision)


def test_recall_failure_shows_claimed_but_silent_first(planted, lab):
    _, result = activation(planted, lab, MONTHS + ["cat"], recall=">= 0.9")
    assert not result.passed
    assert result.evidence[0].title == FALSE_NEGATIVES
    assert "claim does not hold" not in result.evidence[0].rows[0].label


def test_precision_failure_shows_firing_off_the_claim_first(planted, lab):
    claim, result = activation(planted, lab, ["March"], precision=">= 0.5")
    assert not result.passed and result.evidence[0].title == FALSE_POSITIVES
    message = failure_message(claim, result, lab)
    assert "FAIL precision = " in message and "positions where it fires" in message
    assert "false positives" in message  # every claimed March fires: no false negatives to show


def test_confidence_holds_the_bound_to_the_interval_end(planted, lab):
    _, plain = activation(planted, lab, MONTHS + ["cat"], recall=">= 0")
    value = plain.metrics()["recall"]
    bound = f">= {value - 0.01:.4f}"
    _, loose = activation(planted, lab, MONTHS + ["cat"], recall=bound)
    _, strict = activation(planted, lab, MONTHS + ["cat"], recall=bound, confidence=0.95)
    assert loose.passed and not strict.passed
    measured = next(m for m in strict.measurements if m.name == "recall")
    assert measured.checked_value == measured.interval[0] < measured.value
    assert "lower end" in str(measured)


def test_confidence_upper_end_for_at_most_bounds():
    m = Measurement("pearson", 0.1, Bound("<=", 0.15), interval=(0.05, 0.2), confident=True)
    assert not m.passed and Measurement("pearson", 0.1, Bound("<=", 0.15), interval=(0.05, 0.2)).passed


def test_too_few_positions_is_inconclusive_and_says_how_to_get_more(planted, lab):
    # f1 = 1.0 but its interval reaches below 0.999: with too few positions, not decided.
    claim, result = activation(planted, lab, MONTHS, f1=">= 0.999", min_positions=10**6)
    assert not result.passed and result.inconclusive and result.verdict == "inconclusive"
    n_claimed = int(result.summary.split(" claimed")[0].rsplit(" ", 1)[1].replace(",", ""))
    assert f"names {n_claimed:,} of" in result.inconclusive
    assert "f1 rests on" in result.inconclusive and "more needed" in result.inconclusive
    message = failure_message(claim, result, lab)
    assert "claim is inconclusive" in message and "corpus_tokens" in message and "examples" in message
    assert "more evidence: " in message and "needs" in message  # positions that would settle it
    _, enough = activation(planted, lab, MONTHS, f1=">= 0.999")
    assert enough.passed and not enough.inconclusive


def test_thin_support_still_decides_when_the_interval_lies_on_one_side(planted, lab):
    # The interval of f1 lies wholly above 0.5: no more positions could plausibly change that.
    _, result = activation(planted, lab, MONTHS, f1=">= 0.5", min_positions=10**6)
    assert result.passed and not result.inconclusive


def test_run_wide_min_positions_applies_unless_the_claim_sets_its_own(planted, lab):
    strict = RunSettings(min_positions=10**6)
    claim, result = activation(planted, lab, MONTHS, strict, f1=">= 0.999")
    assert result.inconclusive and claim.run_settings(strict) == {"min_positions": 10**6}
    _, own = activation(planted, lab, MONTHS, strict, f1=">= 0.999", min_positions=5)
    assert own.passed


def test_recall_at_precision_is_written_exactly(planted, lab):
    _, result = activation(planted, lab, MONTHS, recall_at_precision=">= 0.95", at_precision=0.9)
    m = next(m for m in result.measurements if m.name == "recall_at_precision")
    assert result.passed and m.value == pytest.approx(1.0) and m.interval is not None
    assert "precision is at least 0.9" in m.detail
    _, broad = activation(planted, lab, MONTHS + ["cat", "dog"], precision_at_recall=">= 0.99",
                          at_recall=0.95)
    assert not broad.passed  # no threshold fires on every claimed cat and dog


@pytest.mark.parametrize("config, error", [
    ({"recall_at_precision": ">= 0.9"}, "needs `at_precision:`"),
    ({"at_recall": 0.9, "f1": ">= 0.5"}, "only sets the level"),
    ({"precision_at_recall": ">= 0.9", "at_recall": 1.5}, "in \\(0, 1\\]"),
    ({"recall_at_precision": ">= 0.9", "at_precision": 0}, "at_precision"),
    ({"f1": ">= 0.5", "confidence": 1.5}, r"`confidence:` of an 'activation' claim is 1.5; give a number in \(0, 1\)"),
    ({"f1": ">= 0.5", "min_positions": -1}, "`min_positions:`"),
])
def test_bad_verdict_options_are_errors(config, error):
    with pytest.raises(ValueError, match=error):
        ActivationClaim.validate_options(config)


def test_results_round_trip_with_intervals_and_read_old_entries(planted, lab):
    _, result = activation(planted, lab, MONTHS, f1=">= 0.5", min_positions=10**6)
    again = result_from_dict(result_to_dict(result))
    assert again.intervals() == result.intervals() and again.inconclusive == result.inconclusive
    old = result_to_dict(result)
    for m in old["measurements"]:
        for key in ("interval", "level", "confident", "detail"):
            m.pop(key)
    old.pop("inconclusive")
    assert result_from_dict(old).intervals() == {}


def logit_claim(planted, **config):
    subject = Subject(planted.promoter.neuron, None)
    LogitAttributionClaim.validate_options(config)
    return LogitAttributionClaim(subject, config)


def test_logit_attribution_places_claimed_tokens_in_the_vocabulary(planted, lab):
    result = ClaimRunner(lab).run(logit_claim(planted, matches={"tokens": [PROMOTED]}, k=5, share=">= 0.2"))
    assert result.passed
    ranks = result.evidence[1]
    assert ranks.table[0][0].startswith(f"{PROMOTED!r} #1 ") and ranks.table[0][1] > 3
    assert "rank from #1 of" in result.summary


def test_failing_logit_attribution_lists_its_top_k_and_where_the_claim_ranks(planted, lab):
    claim = logit_claim(planted, matches={"tokens": ["cat", "dog"]}, k=12, share=">= 0.5")
    result = ClaimRunner(lab).run(claim)
    assert not result.passed
    message = failure_message(claim, result, lab)
    top_line = next(line for line in message.splitlines() if "top-12 promoted tokens:" in line)
    assert top_line.count(",") == 11, "a top-12 lists 12 tokens"
    rank_line = next(line for line in message.splitlines() if "claimed tokens by their promoted rank" in line)
    assert "'cat' #" in rank_line and "'dog' #" in rank_line and "pushed" in rank_line
