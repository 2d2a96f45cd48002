"""`patching` and `mediation` claims from YAML on the planted model: a claim that holds passes,
a false one fails, an `xfail:` one that is refuted xfails, and a pair of unequal length is one
collection error for its file (one line naming the pair and the fix) while other files run."""

from __future__ import annotations

import pytest

from .planted_yaml import HEADER

NOT_PAIRS = """\
        pairs:
          - {clean: "the cat was not very [[good]]", corrupt: "the cat was the very [[good]]"}
          - {clean: "she saw not a red [[good]]", corrupt: "she saw it a red [[good]]"}
          - {clean: "it is not [[good]]", corrupt: "it is very [[good]]"}
          - {clean: "the food is not very [[good]]", corrupt: "the food is a very [[good]]"}
          - {clean: "we went to the park , not [[good]]", corrupt: "we went to the park , the [[good]]"}
        target: {answer: good, foil: the}
"""
MONTH_TEXTS = ('["we met in [[March]]", "on 3 [[May]] the dog", "they went in [[June]] 2020", '
               '"the cat sat in [[April]]", "she came in [[July]] ."]')

CAUSAL = HEADER + f"""\
  - id: L1H0
    description: copies a "saw not" flag to later positions
    claims:
      - kind: patching
        id: recovers
{NOT_PAIRS}        recovered: ">= 0.95"
        confidence: 0.95
      - kind: patching
        id: recovers_nothing
        xfail: the flag is written at the final position, not at "not"
        pairs:
          - {{clean: "the cat was [[not]] very good", corrupt: "the cat was [[the]] very good"}}
          - {{clean: "she saw [[not]] a red good", corrupt: "she saw [[it]] a red good"}}
          - {{clean: "it is [[not]] good", corrupt: "it is [[very]] good"}}
          - {{clean: "the food is [[not]] very good", corrupt: "the food is [[a]] very good"}}
          - {{clean: "we went to the park , [[not]] good", corrupt: "we went to the park , [[the]] good"}}
        target: {{answer: good, foil: the}}
        recovered: ">= 0.5"
      - kind: mediation
        id: not_through_context
        texts: ["the cat was not very [[good]]", "she saw not a red [[good]]", "it is not [[good]]", "the food is not very [[good]]", "we went to the park , not [[good]]"]
        target: {{answer: good, foil: the}}
        through: [L1N9]
        mediated_share: ">= 0.5"
  - id: L0N3
    description: fires on month names
    claims:
      - kind: mediation
        id: through_promoter
        texts: {MONTH_TEXTS}
        target: "2020"
        through: [L1N5]
        mediated_share: ">= 0.9"
"""


def test_causal_claims_pass_fail_and_xfail(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_causal=CAUSAL)
    result = pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none", "-rA")
    result.assert_outcomes(passed=2, failed=1, xfailed=1)
    out = result.stdout.str()
    assert "PASSED test_causal.yaml::L1H0::recovers" in out
    assert "PASSED test_causal.yaml::L0N3::through_promoter" in out
    assert "FAILED test_causal.yaml::L1H0::not_through_context" in out
    assert "mediated_share = " in out and "Traceback" not in out


def test_a_pair_of_unequal_length_is_a_one_line_error(pytester: pytest.Pytester) -> None:
    bad = CAUSAL.replace('corrupt: "it is very [[good]]"', 'corrupt: "it is very very [[good]]"')
    pytester.makefile(".yaml", test_causal=bad, test_other=CAUSAL)
    result = pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none", "-rA")
    out = result.stdout.str()
    line = next(x for x in out.splitlines() if "tokens and the corrupt" in x)
    assert "`pairs:` item 3 ('it is not [[good]]' / 'it is very very [[good]]')" in line
    assert "4 tokens and the corrupt 5" in line and "same length" in line
    assert "ERROR test_causal.yaml" in out and "Traceback" not in out
    assert "PASSED test_other.yaml::L0N3::through_promoter" in out


TEMPLATED = HEADER + """\
  - id: L0N3
    description: fires on month names
    claims:
      - kind: patching
        id: month_moves_2020
        templates: ["we met in [[{month}]]", "on {day} [[{month}]]", "the {noun} sat in [[{month}]]"]
        slots:
          day: [3, 5, 7]
          noun: [cat, dog, park]
          month: {clean: [March, May, June, July], corrupt: [the, cat, park, rain]}
        draws: 20
        seed: 0
        target: "2020"
        recovered: ">= 0.15"
  - id: L1H0
    description: copies a "saw not" flag to later positions
    claims:
      - kind: patching
        id: one_template_marks_not
        templates: ["the {noun} was {neg} very [[good]]", "the {noun} was [[{neg}]] very good"]
        slots:
          noun: [cat, food, movie]
          neg: {clean: [not, not], corrupt: [the, a]}
        target: {answer: good, foil: the}
        recovered: ">= 0.9"
"""


def test_templated_pairs_pass_fail_with_a_counterexample_and_refuse_unequal_lengths(
        pytester: pytest.Pytester) -> None:
    bad = TEMPLATED.replace("corrupt: [the, cat, park, rain]", 'corrupt: ["the cat", "a dog", "big rain", "the day"]')
    pytester.makefile(".yaml", test_templated=TEMPLATED, test_unequal=bad)
    result = pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none", "-rA")
    out = result.stdout.str()
    assert "PASSED test_templated.yaml::L0N3::month_moves_2020" in out
    assert "FAILED test_templated.yaml::L1H0::one_template_marks_not" in out
    assert ("minimal counterexample (shrunk by Hypothesis): 'the cat was [[not]] very good' / "
            "'the cat was [[the]] very good'") in out
    line = next(x for x in out.splitlines() if "pairs drawn cannot be used" in x)
    assert "{month} 'March' is 1 token, 'the cat' is 2" in line and "same token length" in line
    assert "ERROR test_unequal.yaml" in out and "Traceback" not in out
