"""Where the report goes, and what happens when it cannot go there (issues 14 and 15).

An unusable `--neurontest-report` is one line naming the option and the fix: a folder or a path
under a file before any model work (a usage error), a failed write at the end (read-only folder,
full disk) in the summary, which still prints. A trailing slash names a folder. Without the
option, a run over folders writes `reports/neurontest.html` and any narrower selection its own
`reports/neurontest-<selection>.html`, so one file's run never overwrites the suite's report.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .planted_yaml import HEADER
from .test_yaml_collection import MONTH_TRUE


def _suite(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_months=HEADER + MONTH_TRUE)


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text and "INTERNALERROR" not in text, text


def test_a_folder_without_slash_is_one_usage_line(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    (pytester.path / "out").mkdir()
    result = pytester.runpytest("--neurontest-report", "out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if "neurontest-report" in line]
    assert len(errors) == 1 and "is a folder; end the path with /" in errors[0], result.stderr.lines
    _no_traceback(result.stdout.str() + result.stderr.str())


def test_a_path_under_a_file_is_one_usage_line(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    (pytester.path / "afile").write_text("x")
    result = pytester.runpytest("--neurontest-report", "afile/report.html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--neurontest-report afile/report.html: *afile is a file*"])
    _no_traceback(result.stdout.str() + result.stderr.str())


def test_a_trailing_slash_names_a_folder(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    result = pytester.runpytest("--neurontest-report", "out/")
    result.assert_outcomes(passed=5)
    written = pytester.path / "out" / "neurontest.html"
    assert written.is_file() and not (pytester.path / "out").is_file()
    result.stdout.fnmatch_lines([f"report: {written}"])


def test_a_failed_write_is_one_summary_line_and_the_summary_prints(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root ignores folder permissions, so the read-only folder is played by the write itself.
    import neurontest.report.render as render

    def refuse(path: Path, text: str) -> Path:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(render, "write_atomic", refuse)
    _suite(pytester)
    result = pytester.runpytest("--neurontest-report", "ro/report.html")
    result.assert_outcomes(passed=5)  # the claims' outcomes are pytest's, unchanged
    text = result.stdout.str()
    _no_traceback(text)
    assert len(re.findall(r"report NOT written", text)) == 1
    result.stdout.fnmatch_lines(["claims: 5 passed", "model planted (*",
                                 "report NOT written: Permission denied: *ro/report.html; choose a "
                                 "writable path with --neurontest-report PATH (or 'none')"])
    assert "report: " not in text


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes read-only folders")
def test_a_read_only_folder(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    folder = pytester.path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = pytester.runpytest("--neurontest-report", "ro/report.html")
    finally:
        folder.chmod(0o755)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["report NOT written: Permission denied*"])


def test_default_report_per_selection(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    pytester.makefile(".yaml", test_other=HEADER + MONTH_TRUE)
    reports = pytester.path / "reports"
    whole = pytester.runpytest("-p", "no:cacheprovider", str(pytester.path))
    whole.assert_outcomes(passed=10)
    suite_report = reports / "neurontest.html"
    suite_html = suite_report.read_text()
    one = pytester.runpytest("-p", "no:cacheprovider", "test_months.yaml")
    one.assert_outcomes(passed=5)
    assert suite_report.read_text() == suite_html  # the suite's report is not overwritten
    assert (reports / "neurontest-test_months.html").is_file()
    one.stdout.fnmatch_lines([f"report: {reports / 'neurontest-test_months.html'}"])
    picked = pytester.runpytest("-p", "no:cacheprovider", str(pytester.path), "-k", "noise")
    picked.assert_outcomes(passed=2, deselected=8)
    (named,) = [p for p in reports.iterdir() if "-k-noise" in p.name]
    assert "2 claims" in named.read_text()


def test_collect_only_prints_no_report_line_and_one_model_line(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    pytester.makepyfile(test_py_claims="""
        def test_months(neuron):
            neuron("L0N3", fires_on=["March"], threshold=1.0)
    """)
    result = pytester.runpytest("--collect-only", "--neurontest-model", "planted",
                                "--neurontest-corpus", "planted")
    text = result.stdout.str()
    assert "report:" not in text and not (pytester.path / "reports").exists()
    assert text.count("model planted (") <= 1
