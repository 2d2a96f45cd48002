"""Claims made from Python (the `neuron` fixture) reach the HTML report with their evidence."""

from __future__ import annotations

import pytest

from .planted_yaml import HEADER
from .test_yaml_collection import MONTH_TRUE

PY_CLAIMS = """
    import pytest
    from neurontest.engine.units.neuron import NeuronRef

    def test_months(neuron):
        n = neuron("L0N3", fires_on=["March", "April", "May"], threshold=1.0)
        n.assert_examples(fires=["in [[May]] we met"], silent=["the dog"])
        n.assert_examples(fires=["in [[March]] we met"], silent=["the cat"])

    def test_wrong(neuron):
        neuron("L0N3", fires_on={"regex": "^cat$"}, threshold=1.0).assert_fires_on(precision=">= 0.5")

    def test_lab_only(neurontest_lab):
        assert neurontest_lab.activations(NeuronRef(0, 3)).max() > 1.0
"""
PLANTED = ("--neurontest-model", "planted", "--neurontest-corpus", "planted")


def test_a_run_of_only_python_claims_writes_a_report_and_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_py_claims=PY_CLAIMS)
    report = pytester.path / "report.html"
    result = pytester.runpytest("-p", "no:cacheprovider", *PLANTED, "--neurontest-report", str(report))
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["claims: 1 failed, 2 passed", f"report: {report}"])
    html = report.read_text()
    assert 'data-count="failed">1 failed<' in html and 'data-count="passed">2 passed<' in html
    assert "3 claims" in html
    # The failing claim's evidence (its heatmap rows) and both claims of the first test are shown.
    assert "precision" in html and html.count("<h3>L0N3 examples") == 2
    assert "test_py_claims.py::test_lab_only" in html


def test_mixed_run_reports_what_pytest_counts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_py_claims=PY_CLAIMS)
    pytester.makefile(".yaml", test_months=HEADER + MONTH_TRUE)
    report = pytester.path / "report.html"
    result = pytester.runpytest("-p", "no:cacheprovider", *PLANTED, "--neurontest-report", str(report))
    result.assert_outcomes(passed=7, failed=1)
    assert "8 claims" in report.read_text()
    result.stdout.fnmatch_lines(["claims: 1 failed, 7 passed"])
    # One summary line per distinct model and corpus (the YAML file samples the planted corpus
    # whole, the fixture 100,000 tokens of it: two corpora), never one line twice.
    lines = [line for line in result.stdout.lines if line.startswith("model planted (")]
    assert lines and len(lines) == len(set(lines))
