"""Under `-n 2` the neurontest summary equals a serial run's: claims, model lines, baselines
(all but the timings of the phase line)."""

from __future__ import annotations

import pytest

from .planted_yaml import HEADER
from .test_yaml_collection import MONTH_TRUE

pytest.importorskip("xdist")


def _section(result: pytest.RunResult) -> list[str]:
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "= neurontest =" in line)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("="))
    # The phase line's seconds differ run to run; that it is there is tested in test_phases.
    return [line for line in lines[start + 1:end] if line.strip() and not line.startswith("time: ")]


def test_xdist_summary_equals_serial(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_months=HEADER + MONTH_TRUE)
    baseline = pytester.path / "baselines" / "test_months.planted.json"
    # Subprocess: in-process runs cannot start xdist workers that import torch again.
    run = pytester.runpytest_subprocess
    # The recording pair computes everything (the second run would remember the first's results).
    recorded = run("-n", "2", "-p", "no:cacheprovider", "--neurontest-report", "none",
                   "--neurontest-update-baselines", "--neurontest-no-cache")
    recorded.assert_outcomes(passed=5)
    parallel_file = baseline.read_text()
    assert parallel_file.count('"kind"') == 5  # one controller write, every worker's claims
    baseline.unlink()
    serial_record = run("-p", "no:cacheprovider", "--neurontest-report", "none",
                        "--neurontest-update-baselines", "--neurontest-no-cache")
    assert baseline.read_text() == parallel_file
    assert _section(serial_record) == _section(recorded)

    run("-p", "no:cacheprovider", "--neurontest-report", "none")  # results now remembered by both
    serial = run("-p", "no:cacheprovider", "--neurontest-report", "none")
    parallel = run("-n", "2", "-p", "no:cacheprovider", "--neurontest-report", "none")
    assert _section(parallel) == _section(serial)
    shown = "\n".join(_section(parallel))
    assert "baselines: 5 checked, 0 drifted, 0 missing, 0 unused" in shown
    assert "model planted (" in shown
