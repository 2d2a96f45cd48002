"""Where a run's time went: the phase clock counts each task's own time in its phase (a task
inside another is not counted twice), claims by kind, mining passes and their token rate; the
pytest summary ends with the phase line and the report shows it as bars."""

from __future__ import annotations

import re
import textwrap
import time

import pytest

from neurontest.engine.progress import (PhaseClock, PhaseTimes, ProgressEvent, progress_task,
                                        reporting, timed_step)


def test_a_nested_task_counts_in_its_own_phase_only(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    seen: list[ProgressEvent] = []
    clock = PhaseClock(seen.append)
    with reporting(clock):
        with timed_step("claims", "ablation"):
            now[0] += 1.0
            with progress_task("mining 2 neuron(s)", total=500, unit="tokens", phase="mining") as task:
                now[0] += 4.0
                task.advance(500)
            now[0] += 2.0
        with progress_task("fitting an SAE", total=3, unit="epochs", phase="SAE fits") as task:
            now[0] += 10.0
            task.advance(3, "loss 0.1")
    times = clock.times
    assert times.seconds == {"claims": 3.0, "mining": 4.0, "SAE fits": 10.0}
    assert times.claims == {"ablation": 3.0}
    assert (times.mining_passes, times.mining_tokens) == (1, 500)
    assert not any(event.silent for event in seen), "a timed step is never shown as a line"
    line = times.line(wall=20.0)
    assert line.startswith("SAE fits 10 s · mining 4.0 s (1 pass, 125 tokens/s) · claims 3.0 s (ablation 3.0 s)")
    assert line.endswith("other 3.0 s (imports, collection, reports)")


def test_a_failed_pass_is_timed_but_not_counted_as_a_pass() -> None:
    clock = PhaseClock()
    with reporting(clock), pytest.raises(RuntimeError):
        with progress_task("mining", total=10, unit="tokens", phase="mining"):
            raise RuntimeError("out of memory")
    assert clock.times.mining_passes == 0 and "mining" in clock.times.seconds


def test_worker_times_add_up_and_survive_json() -> None:
    a = PhaseTimes({"mining": 2.0}, {}, 1, 100.0)
    b = PhaseTimes.from_dict(PhaseTimes({"mining": 3.0, "claims": 1.0}, {"activation": 1.0}, 1,
                                        300.0).to_dict())
    a.add(b)
    assert a.seconds == {"mining": 5.0, "claims": 1.0} and a.mining_passes == 2
    assert a.mining_tokens == 400.0 and a.claims == {"activation": 1.0}


def test_the_summary_ends_with_the_phase_line_and_the_report_shows_bars(pytester: pytest.Pytester,
                                                                        tmp_path) -> None:
    from integration.planted_yaml import HEADER, MONTH_NEURON

    # A noise claim: long enough (about a second) to show in the line on any machine.
    pytester.makefile(".yaml", test_m=HEADER + MONTH_NEURON + textwrap.indent(
        "- kind: activation\n  f1: '>= 0.9'\n- kind: noise\n  text: 'we met in [[March]]'\n", " " * 6))
    report = tmp_path / "r.html"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "--neurontest-no-cache",
                                           "--neurontest-report", str(report))
    assert result.ret == 0, result.stdout.str()
    section = result.stdout.str().split("neurontest ==")[-1]
    phase_line = [line for line in section.splitlines() if line.startswith("time: ")]
    assert phase_line, section
    assert re.search(r"mining [\d.]+ s \(1 pass, [\d,]+ tokens/s\)", phase_line[0]), phase_line
    assert re.search(r"claims [\d.]+ s \(noise [\d.]+ s", phase_line[0]), phase_line
    html = report.read_text(encoding="utf-8")
    assert 'class="phases"' in html and "<th>mining</th>" in html
