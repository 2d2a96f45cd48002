"""Perturbation claims (invariant, necessary, sufficient, adversarial) in child pytest runs on
the planted model: true claims pass, false ones fail with a small shrunk counterexample, and the
`ci` profile makes two runs identical."""

from __future__ import annotations

import re
import textwrap

import pytest

from .planted_yaml import HEADER, MONTH_NEURON

TRUE_CLAIMS = MONTH_NEURON + """\
      - kind: invariant
        texts: ["we met in [[March]] 2020", "the dog sat in the park in [[May]] , it was a good day"]
        examples: 40
      - kind: necessary
        texts: ["we met in [[March]] 2020"]
        edits: 2
      - kind: sufficient
        templates: ["we met in [[{month}]] {year}", "[[{month}]] was very good"]
        slots: {year: ["2020", "1999"]}
      - kind: sufficient
        id: random-contexts
        length: 6
      - kind: sufficient
        id: into-texts
        texts: ["the dog sat in the park", "we met in [[March]]"]
      - kind: adversarial
        budget: 3
        n_prompts: 2
        length: 4
      - kind: adversarial
        id: only-two-months
        fires_on: {tokens: [January, March]}
        budget: 10
        method: substitute
        xfail: "fires on every month, e.g. December"
"""

WRONG_CLAIMS = """\
  - id: L0N3
    description: claimed (wrongly) to fire on January and February only
    fires_on: {tokens: [January, February]}
    threshold: 1.0
    claims:
      - kind: necessary
        texts: ["we met in [[January]] 2020", "the dog sat in the park in [[February]] , it was a good day"]
        edits: 2
        examples: 60
      - kind: adversarial
        id: only-january-march
        fires_on: {tokens: [January, March]}
        budget: 10
        n_prompts: 2
  - id: L1N9
    description: claimed (wrongly) to fire on "good" in any context
    fires_on: {tokens: [good]}
    threshold: 0.5
    claims:
      - kind: invariant
        texts: ["the food was not very [[good]]"]
        perturbations: [delete, replace, case]
        pool: [the, a, very, big]
"""


def write(pytester: pytest.Pytester, name: str, body: str) -> None:
    pytester.makefile(".yaml", **{name: HEADER + textwrap.dedent(body)})


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none", *args)


def test_true_claims_about_the_planted_months_pass(pytester: pytest.Pytester) -> None:
    write(pytester, "test_months", TRUE_CLAIMS)
    result = run(pytester)
    result.assert_outcomes(passed=6, xfailed=1)


def test_false_claims_fail_with_the_same_shrunk_counterexample_in_ci(pytester: pytest.Pytester) -> None:
    write(pytester, "test_wrong", WRONG_CLAIMS)
    runs = []
    for _ in range(2):  # no remembered results: the second run must search again
        result = run(pytester, "--neurontest-max-examples", "20",
                     "--neurontest-hypothesis-profile", "ci", "--neurontest-no-cache")
        result.assert_outcomes(failed=3)
        runs.append(result.stdout.str())
    # Only the failures section: with CI set, pytest repeats whole messages in its short summary.
    out = runs[0].split("short test summary info")[0]
    necessary, invariant = (int(n) for n in re.findall(r"examples = (\d+)", out))
    assert 20 < necessary <= 60 and 0 < invariant <= 20  # `examples: 60` beats the global 20
    # necessary: a month outside the claimed set still fires; the counterexample is one edit
    # of the shorter text (5 tokens).
    found = re.search(r"minimal counterexample \(shrunk\): 'we met in \[\[(\w+)\]\] 2020' "
                      r"\[replace trigger 'January' -> '\w+'\] activation 7.86", out)
    assert found and found.group(1) not in ("January", "February"), out
    # invariant: deleting "not" alone silences the context neuron
    assert "'the food was very [[good]]' [delete 'not'] activation" in out, out
    # adversarial: another month fires although the claim says only January and March do
    found = re.search(r"counterexample \((?:optimize|substitute)\): '[^']*' fires 7.86 at '(\w+)'", out)
    assert found and found.group(1) not in ("January", "March"), out
    assert "FAIL max_off_predicate_activation = 7.855 (expected <= 1)" in out
    # ci: derandomized, so both runs report the same verdicts, seeds and counterexamples
    lines = [[line for line in text.splitlines() if "counterexample" in line or "FAIL" in line]
             for text in runs]
    assert lines[0] == lines[1] and len(lines[0]) >= 6
    assert not (pytester.path / ".hypothesis" / "neurontest").exists()  # ci: no database


def test_default_profile_keeps_failures_in_the_project_database(tmp_path) -> None:
    from neurontest.claims.runner import ClaimRunner
    from neurontest.claims.settings import RunSettings
    from neurontest.lab import Lab
    from neurontest.plugin.assertions import NeuronUnderTest

    lab = Lab.load("planted", "planted", window=16, n_tokens=None, progress=False, cache=False)
    runner = ClaimRunner(lab, settings=RunSettings(rootdir=tmp_path))
    wrong = NeuronUnderTest.create(runner, "L0N3", fires_on=["January", "February"], threshold=1.0)
    results = [wrong.check("necessary", texts=["we met in [[January]] 2020"], examples=60,
                           replace_with=["vocabulary"]) for _ in range(2)]
    database = tmp_path / ".hypothesis" / "neurontest"
    assert database.is_dir() and any(database.iterdir())
    for result in results:
        assert not result.passed
        assert "replace trigger 'January' ->" in result.summary
        assert result.evidence[0].rows[0].str_tokens[:3] == ["we", "met", "in"]


@pytest.mark.parametrize("kind, options, message", [
    ("invariant", {}, "needs `texts:`"),
    ("invariant", {"texts": ["[[May]]"], "perturbations": ["shuffle"]},
     "item 1 is 'delete', 'insert', 'replace', 'case', 'spacing' or 'swap', got 'shuffle'"),
    ("invariant", {"texts": ["[[May]]"], "edits": -1},
     "`edits:` of an 'invariant' claim is -1; give a whole number 0..64"),
    ("necessary", {"texts": ["[[May]]"], "replace_with": ["synonyms"]},
     "`replace_with:` of a 'necessary' claim, item 1 is 'neighbours', 'corpus' or 'vocabulary'"),
    ("sufficient", {"templates": ["in {month}"]}, "needs a trigger slot"),
    ("sufficient", {"templates": ["in [[{month}]] {year}"]}, "give values for slot(s) ['year']"),
    ("adversarial", {"method": "anneal"},
     "`method:` of an 'adversarial' claim is 'optimize', 'substitute' or 'both', got 'anneal'"),
    ("adversarial", {"budgte": 5}, "did you mean 'budget'"),
])
def test_options_are_checked_with_a_fix(kind: str, options: dict, message: str) -> None:
    from neurontest.format.kinds import get_claim_class

    with pytest.raises(ValueError) as info:
        get_claim_class(kind).validate_options(options)
    assert message in str(info.value)


def test_unknown_profile_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--neurontest-hypothesis-profile", "nightly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown neurontest hypothesis profile 'nightly'*"])
