"""Remembered claim results (neurontest.plugin.result_cache) in child pytest runs on the planted model:
a warm run serves every deterministic claim from disk without loading the model, and anything
that could change a result (the claim, the flag, randomness) makes it compute again."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from .planted_yaml import HEADER, MONTH_NEURON, MONTH_TEXT_CLAIMS, MONTHS

CLAIMS = MONTH_NEURON + """\
      - kind: activation
        f1: ">= 0.99"
""" + MONTH_TEXT_CLAIMS + """\
      - kind: invariant
        texts: ["we met in [[March]] 2020"]
        examples: 10
        seed: 3
      - kind: invariant
        id: unseeded
        texts: ["we met in [[March]] 2020"]
        examples: 10
"""

PYTHON_CLAIMS = f"""
from neurontest.engine.units.neuron import NeuronRef

def test_assertion_api(neuron):
    neuron("L0N3", fires_on={MONTHS.strip("[]").split(", ")!r}, threshold=1.0).assert_fires_on(f1=">= 0.99")

def test_lab_strings_and_activations(neurontest_lab):
    batch = neurontest_lab.sample.batch
    strings = neurontest_lab.vocab.strings
    acts = neurontest_lab.activations(NeuronRef(0, 3))
    months = [[strings[int(t)].strip() == "March" for t in row] for row in batch.tokens.tolist()]
    assert any(map(any, months)) and float(acts.max()) > 1.0
"""

RUN = ("-p", "no:cacheprovider", "--neurontest-report", "none")


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.Pytester:
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path / "cache"))  # starts empty
    pytester.makefile(".yaml", test_months=HEADER + textwrap.dedent(CLAIMS))
    pytester.makepyfile(test_api=PYTHON_CLAIMS)
    pytester.makeini("[pytest]\nneurontest_model = planted\nneurontest_corpus = planted\n")
    return pytester


def _forbid_model_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import neurontest.engine.models.loading

    loads: list[str] = []

    def refuse(name: object = None, **kwargs: object) -> None:
        loads.append(str(name))
        raise AssertionError("the warm run loaded the model")

    monkeypatch.setattr(neurontest.engine.models.loading, "load_model", refuse)
    return loads


def test_warm_run_serves_results_without_loading_the_model(suite: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    suite.runpytest(*RUN).assert_outcomes(passed=8)
    loads = _forbid_model_loads(monkeypatch)
    warm = suite.runpytest(*RUN)
    # The unseeded invariant claim draws new examples each run, so it needs the model: it is the
    # only one that errors here. Everything else is served from the first run's results.
    warm.assert_outcomes(passed=7, failed=1)
    assert loads == ["planted"]
    # 5 YAML claims and the Python test's assert_fires_on (its card counts it too).
    warm.stdout.fnmatch_lines(["*6 claim result(s) remembered*"])
    assert "FAILED test_months.yaml::L0N3::unseeded" in "\n".join(warm.outlines)


def test_warm_results_match_the_cold_ones(suite: pytest.Pytester) -> None:
    cold = suite.runpytest(*RUN, "-v")
    warm = suite.runpytest(*RUN, "-v")
    passed = sorted(line.split(" ")[0] for line in cold.outlines if " PASSED" in line)
    assert passed == sorted(line.split(" ")[0] for line in warm.outlines if " PASSED" in line)
    assert len(passed) == 8
    warm.stdout.fnmatch_lines(["*6 claim result(s) remembered*"])  # 5 YAML, 1 from Python


def _rerun_after_edit(suite: pytest.Pytester, old: str, new: str) -> pytest.RunResult:
    """A cold run, then a run after replacing `old` with `new` in the hypothesis file."""
    suite.runpytest(*RUN).assert_outcomes(passed=8)
    suite.makefile(".yaml", test_months=HEADER + textwrap.dedent(CLAIMS.replace(old, new)))
    return suite.runpytest(*RUN)


def test_an_edited_claim_is_measured_again(suite: pytest.Pytester) -> None:
    # The same claim held to a bound it cannot meet: a remembered pass would hide the failure.
    result = _rerun_after_edit(suite, 'f1: ">= 0.99"', 'f1: "<= 0.5"')
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["*FAIL f1 = 1 (expected <= 0.5; 95% CI 0.974 to 1*", "*5 claim result(s) remembered*",
                                 "FAILED test_months.yaml::L0N3::activation*"])


def test_no_cache_flag_recomputes_everything(suite: pytest.Pytester) -> None:
    suite.runpytest(*RUN).assert_outcomes(passed=8)
    result = suite.runpytest(*RUN, "--neurontest-no-cache")
    result.assert_outcomes(passed=8)
    assert not any("remembered" in line for line in result.outlines)


def test_an_edited_file_is_checked_again(suite: pytest.Pytester) -> None:
    # Its collection checks passed before; the edit must be checked, not waved through.
    result = _rerun_after_edit(suite, "id: L0N3", "id: L0N999")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*test_months.yaml*L0N999*"])
