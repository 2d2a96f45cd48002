"""Verdicts a statistician would sign (issue 21), end to end on the planted model: each test is a
way the verdict used to be wrong while every metric was right.

1. a strict xfail hid a false claim that became true (and an inconclusive one);
2. support was counted on the claimed side only;
3. vacuous claims passed;
5. `confidence:` was silently ignored where no interval exists;
6. ablation effects rested on two texts;
and many claims at once: Holm / Benjamini-Hochberg across a run.
(4, tie-aware AUPRC, is in tests/unit/test_metrics.py; 7, drift, in tests/*/test_baselines.py; 8,
clustered intervals, in tests/unit/test_interval_coverage.py.)
"""

from __future__ import annotations

import json
import textwrap

import pytest

from .planted_yaml import HEADER, MONTHS

OFF = ("-p", "no:cacheprovider", "--neurontest-report", "none", "--neurontest-no-cache")


def write(pytester: pytest.Pytester, name: str, body: str) -> None:
    pytester.makefile(".yaml", **{name: HEADER + textwrap.dedent(body)})


def month_claim(claim: str, *, fires_on: str = f"{{tokens: {MONTHS}}}", threshold: str = "1.0") -> str:
    return f"""\
      - id: L0N3
        fires_on: {fires_on}
        threshold: {threshold}
        claims:
{textwrap.indent(textwrap.dedent(claim), " " * 10)}"""


# -- 1. xfail means "the evidence refutes it" ---------------------------------------------------
def test_an_xfail_claim_that_holds_fails_even_when_its_metric_drifted(pytester: pytest.Pytester) -> None:
    # The file says "L0N3 does not fire on months" (xfail) but it does; a baseline recorded
    # while it was false makes the metric drift. Before: the drift's ClaimFailed read as XFAIL.
    write(pytester, "test_months", month_claim("""\
        - kind: activation
          id: not-months
          precision: ">= 0.5"
          xfail: recorded as false
    """))
    baseline = pytester.path / "baselines" / "test_months.planted.json"
    baseline.parent.mkdir()
    baseline.write_text(json.dumps({"format": 1, "claims": {"L0N3::not-months": {
        "kind": "activation", "neuron": "L0N3", "metrics": {"precision": 0.1}}}}))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*XPASS(strict): the file claims this false (recorded as false)*",
                                 "*precision drifted: baseline 0.1 -> now 1*"])


def test_an_inconclusive_xfail_claim_is_not_confirmed_false(pytester: pytest.Pytester) -> None:
    # Nothing fires above tau 100: precision rests on no position at all, so nothing refutes
    # `precision >= 0.5`. Before: the inconclusive failure counted as the expected failure.
    write(pytester, "test_months", month_claim("""\
        - kind: activation
          precision: ">= 0.5"
          xfail: said to be false
    """, threshold="100.0"))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*claimed false (said to be false), but the evidence is too thin*",
                                 "*precision rests on 0 firing positions (20 more needed)*"])


def test_a_refuted_xfail_claim_is_xfailed(pytester: pytest.Pytester) -> None:
    write(pytester, "test_months", month_claim("""\
        - kind: activation
          precision: ">= 0.5"
          xfail: months, not animals
    """, fires_on="{tokens: [cat, dog]}"))
    pytester.runpytest(*OFF).assert_outcomes(xfailed=1)


# -- 2. support on each metric's own side -------------------------------------------------------
def test_precision_rests_on_the_firing_positions_not_the_claimed_ones(pytester: pytest.Pytester) -> None:
    # Months and digits are claimed (many positions), only months fire: precision 1.0 on the
    # 142 firing positions. With min_positions 1000 the firing side is thin and its interval
    # straddles 0.99. Before: the claimed side had enough, so it passed on the point estimate.
    write(pytester, "test_months", month_claim("""\
        - kind: activation
          precision: ">= 0.99"
          min_positions: 1000
    """, fires_on=f"{{any_of: [{{tokens: {MONTHS}}}, {{regex: '^[0-9]+$'}}]}}"))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*activation claim is inconclusive*",
                                 "*precision rests on 142 firing positions (858 more needed)*",
                                 "*more evidence: precision = 1.000*"])


def test_few_claimed_but_many_firing_decides_a_precision_claim(pytester: pytest.Pytester) -> None:
    # One month is claimed (few positions); the neuron fires on all twelve (many): precision
    # rests on the firing side, which has plenty. Before: inconclusive for too few claimed.
    write(pytester, "test_months", month_claim("""\
        - kind: activation
          precision: ">= 0.03"
          min_positions: 30
    """, fires_on="{tokens: [January]}"))
    pytester.runpytest(*OFF).assert_outcomes(passed=1)


def test_nothing_firing_does_not_pass_an_upper_bound(pytester: pytest.Pytester) -> None:
    # tau 100: nothing fires, precision is 0 by convention. Before: `<=` held and passed.
    write(pytester, "test_months", month_claim("""\
        - kind: activation
          precision: "<= 0.01"
    """, threshold="100.0"))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*INCONCLUSIVE precision rests on 0 firing positions*"])


def test_a_thin_side_whose_interval_lies_below_the_bound_is_a_failure(pytester: pytest.Pytester) -> None:
    # L0N3 fires on no animal: recall 0 of the claimed positions, interval far below 0.9. Too
    # few positions for min_positions, but no amount of data would plausibly change that.
    write(pytester, "test_months", month_claim("""\
        - kind: activation
          recall: ">= 0.9"
          min_positions: 100000
    """, fires_on="{tokens: [cat]}"))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*activation claim failed*"])


# -- 3. chance --------------------------------------------------------------------------------
def test_a_predicate_claiming_every_position_says_nothing(pytester: pytest.Pytester) -> None:
    write(pytester, "test_months", month_claim("""\
        - kind: activation
          precision: ">= 0.9"
    """, fires_on="{regex: ''}"))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*says nothing beyond chance*",
                                 "*INVALID `precision: '>= 0.9'` holds for a unit that ignores the text*"])


def test_a_bound_chance_meets_fails_and_names_the_base_rate(pytester: pytest.Pytester) -> None:
    # Months are about 5.6% of the planted corpus: `precision >= 0.05` is met by chance alone.
    write(pytester, "test_months", month_claim("""\
        - kind: activation
          precision: ">= 0.05"
          xfail: even as an xfail, a vacuous claim is not a verdict
    """))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*holds for a unit that ignores the text (precision 0.05*; base rate 0.05*"])


def test_operating_points_must_beat_the_base_rate(pytester: pytest.Pytester) -> None:
    write(pytester, "test_zero", month_claim("""\
        - kind: activation
          recall_at_precision: ">= 0.9"
          at_precision: 0
    """))
    write(pytester, "test_low", month_claim("""\
        - kind: activation
          recall_at_precision: ">= 0.9"
          at_precision: 0.01
    """))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(["*test_zero.yaml*at_precision*", "*at or below the predicate's base rate*"])


def test_the_message_shows_lift_over_chance(pytester: pytest.Pytester) -> None:
    write(pytester, "test_months", month_claim("""\
        - kind: activation
          recall: ">= 0.99"
          precision: ">= 0.5"
    """, fires_on=f"{{any_of: [{{tokens: {MONTHS}}}, {{tokens: [cat]}}]}}"))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*precision = 1 (ok, >= 0.5; 95% CI *; chance 0.0*, lift 1*x; p = *"])


# -- 5 and 6. intervals that exist, and that cover ----------------------------------------------
ABLATION = """\
  - id: L1N5
    claims:
      - kind: ablation
        target: "2020"
        effect: "<= -0.5"
        texts: {texts}
{more}"""


@pytest.mark.parametrize("more, message", [
    ("        confidence: 0.95\n", "needs at least 3 texts"),
    ("        confidence: 0.95\n        kl: '== 0'\n", "needs at least 3 texts"),
])
def test_confidence_without_an_interval_is_an_error(pytester: pytest.Pytester, more: str, message: str) -> None:
    write(pytester, "test_ablation", ABLATION.format(texts='["we met in [[March]]"]', more=more))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{message}*"])


def test_confidence_with_an_exact_bound_is_an_error(pytester: pytest.Pytester) -> None:
    write(pytester, "test_months", month_claim("""\
        - kind: activation
          f1: "== 1"
          confidence: 0.95
    """))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*`confidence:` needs one-sided bounds*"])


def test_an_effect_on_two_texts_is_not_a_verdict(pytester: pytest.Pytester) -> None:
    # One text where ablating the promoter matters, one where it does not: a mean of two
    # unlike values. Before: passed on the mean; a t interval with 1 degree of freedom is wide.
    texts = '["we met in [[March]]", "the cat sat on the [[mat]]"]'
    write(pytester, "test_ablation", ABLATION.format(texts=texts, more=""))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ablation claim is inconclusive*", "*effect rests on 2 text(s)*"])


# -- many claims at once -------------------------------------------------------------------------
def test_error_control_names_the_family_and_can_fail_a_weak_pass(pytester: pytest.Pytester) -> None:
    # A strong claim and a borderline one (its bound just under its value): alone both pass;
    # with Holm over the run, the borderline one's p-value does not survive.
    write(pytester, "test_months", month_claim("""\
        - kind: activation
          id: strong
          recall: ">= 0.9"
        - kind: activation
          id: borderline
          precision: ">= 0.999"
    """))
    alone = pytester.runpytest(*OFF)
    alone.assert_outcomes(passed=2)
    held = pytester.runpytest("-p", "no:cacheprovider", "--neurontest-no-cache",
                              "--neurontest-report", "report.html", "--neurontest-error-control", "holm")
    held.assert_outcomes(passed=1, failed=1)
    page = (pytester.path / "report.html").read_text()
    assert "error control: Holm (family-wise error) over 2 claims at alpha 0.05" in page
    assert "lift" in page and "<th>chance</th>" in page  # chance and lift beside every bound
    held.stdout.fnmatch_lines(["*Holm (family-wise error) over 2 claims: adjusted p = *",
                               "*error control: Holm (family-wise error) over 2 claims at alpha 0.05: "
                               "1 of 2 passing claims survive (1 fail on their adjusted p-value)*"])


def test_error_control_refuses_a_bad_method(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--neurontest-error-control", "bonferonni")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--neurontest-error-control 'bonferonni' is unknown; use one of none, holm, bh*"])
