"""Under pytest-xdist the controller writes one report with every worker's claims and evidence."""

from __future__ import annotations

import pytest

from .planted_yaml import HEADER
from .test_yaml_collection import MONTH_TRUE

pytest.importorskip("xdist")


def test_xdist_report_has_all_outcomes_and_evidence(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_months=HEADER + MONTH_TRUE + (
        "      - kind: activation\n        id: wrong\n        fires_on: {tokens: [cat]}\n"
        "        precision: \">= 0.5\"\n"))
    report = pytester.path / "report.html"
    # Subprocess: in-process runs cannot start xdist workers that import torch again.
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider",
                                           "--neurontest-report", str(report))
    result.assert_outcomes(passed=5, failed=1)
    html = report.read_text()
    assert 'data-count="failed">1 failed<' in html and 'data-count="passed">5 passed<' in html
    assert "o-pending" not in html
    assert html.count("title=") > 4  # the workers' heatmaps reached the controller
