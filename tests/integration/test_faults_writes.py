"""kill -9 during a baseline or report write, on the planted model: the file on disk stays the
previous whole one, and the next run removes the killed write's temp file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from .faults_support import CLAIMS, FAULTS_CONFTEST, finish, outcomes, start_pytest, temp_files


@pytest.fixture
def suite(pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path / "cache"))
    pytester.makefile(".yaml", test_months=CLAIMS)
    pytester.makeconftest(FAULTS_CONFTEST)
    return pytester.path


def _kill_at_first_durable_write(folder: Path, *args: str) -> None:
    """Run pytest until its first fsync (a baseline or report write), then SIGKILL it there."""
    marker = folder / "blocked"
    child = start_pytest(folder, "killed", *args, FAULTS_BLOCK_FSYNC=str(marker))
    deadline = time.monotonic() + 300
    while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    child.kill()  # SIGKILL: no cleanup handler runs
    output = child.communicate()[0]
    assert marker.exists(), f"the run never reached its write:\n{output}"


def test_kill_9_during_a_baseline_write(suite: Path) -> None:
    code, output = finish(start_pytest(suite, "record", "--neurontest-report", "none",
                                       "--neurontest-update-baselines"))
    assert code == 0, output
    baseline = suite / "baselines" / "test_months.planted.json"
    recorded = baseline.read_text()
    # One more claim, so the next update has something new to write.
    (suite / "test_months.yaml").write_text(CLAIMS + "    - kind: examples\n      id: more\n"
                                            "      silent: [\"the dog ran\"]\n")

    _kill_at_first_durable_write(suite, "--neurontest-report", "none", "--neurontest-update-baselines")
    assert baseline.read_text() == recorded and json.loads(recorded)["claims"]  # whole, as before
    (leftover,) = temp_files(suite / "baselines")
    assert leftover.name.startswith(".test_months.planted.json.")

    code, output = finish(start_pytest(suite, "next", "--neurontest-report", "none"))
    assert code == 0, output
    assert temp_files(suite / "baselines") == [] and baseline.read_text() == recorded
    assert set(outcomes(suite / "next.xml").values()) == {"passed"}


def test_kill_9_during_a_report_write(suite: Path) -> None:
    report = suite / "reports" / "run.html"
    code, output = finish(start_pytest(suite, "first", "--neurontest-report", str(report)))
    assert code == 0, output
    written = report.read_text()
    assert written.rstrip().endswith("</html>")

    _kill_at_first_durable_write(suite, "--neurontest-report", str(report))
    assert report.read_text() == written  # the previous report, whole
    (leftover,) = temp_files(report.parent)
    assert leftover.name.startswith(".run.html.")

    code, output = finish(start_pytest(suite, "next", "--neurontest-report", str(report)))
    assert code == 0, output
    assert temp_files(report.parent) == [] and report.read_text().rstrip().endswith("</html>")
