"""A pytest run that starts in-process child runs (pytester) keeps its own claim outcomes."""

from __future__ import annotations

import pytest


def test_outer_records_survive_an_inner_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outer="""
        import pytest

        pytest_plugins = ["pytester"]

        def test_uses_lab(neurontest_lab, pytester):
            pytester.makepyfile(test_inner="def test_x():\\n    pass\\n")
            pytester.runpytest("--neurontest-report", "none").assert_outcomes(passed=1)
            assert neurontest_lab is not None
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--neurontest-model", "planted",
                                           "--neurontest-corpus", "planted", "--neurontest-report", "none")
    result.assert_outcomes(passed=1)
    # The outer test's card got its outcome, not 'pending' (the inner run had taken the handle).
    result.stdout.fnmatch_lines(["claims: 1 passed"])
