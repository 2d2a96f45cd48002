"""Live progress: engine events, and how the pytest plugin shows them (issue 15)."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from neurontest.engine.progress import ProgressEvent, ProgressTask, progress_task, reporting
from neurontest.plugin.progress import TerminalProgress, describe


class FakeTerminal:
    """The slice of pytest's TerminalReporter that TerminalProgress uses, recording writes."""

    def __init__(self) -> None:
        self.out = ""
        self.currentfspath: Any = None
        self.startpath = None

    def ensure_newline(self) -> None:
        if self.currentfspath:
            self.out += "\n"
            self.currentfspath = None

    def rewrite(self, line: str, erase: bool = False) -> None:
        self.out += "\r" + line

    def write(self, text: str) -> None:
        self.out += text

    def write_line(self, line: str) -> None:
        self.out += line + "\n"

    def flush(self) -> None:
        pass


def test_events_reach_the_installed_callback_and_end_once() -> None:
    seen: list[tuple[float, bool, str]] = []
    with reporting(lambda e: seen.append((e.done, e.finished, e.note))):
        with progress_task("mining", total=10, unit="tokens") as task:
            task.advance(4)
            task.advance(6)
        with pytest.raises(RuntimeError), progress_task("converting"):
            raise RuntimeError("boom")
    assert seen == [(0, False, ""), (4, False, ""), (10, False, ""), (10, True, ""),
                    (0, False, ""), (0, True, "failed")]


def test_no_callback_and_no_bar_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    task = ProgressTask("mining", total=3, unit="tokens")
    task.advance(3)
    task.finish()
    assert capsys.readouterr() == ("", "")


def test_the_line_shows_rate_and_eta() -> None:
    event = ProgressEvent("mining 3 neuron(s)", done=5_000, total=100_000, unit="tokens")
    event.started -= 2.0  # two seconds in
    line = describe(event)
    assert line.startswith("neurontest: mining 3 neuron(s): 5,000/100,000 tokens, ")
    assert "tokens/s" in line and "ETA " in line
    event.finished = True
    assert describe(event).endswith("done in 2 s")


def test_not_a_terminal_gets_one_start_and_one_end_line() -> None:
    terminal = FakeTerminal()
    with reporting(TerminalProgress(terminal, tty=False)):
        with progress_task("mining", total=100, unit="tokens") as task:
            for _ in range(10):
                task.advance(10)
    lines = terminal.out.splitlines()
    assert lines == ["neurontest: mining (100 tokens) ...", lines[1]]
    assert lines[1].startswith("neurontest: mining: 100 tokens done in ")


def test_a_terminal_rewrites_one_line_and_restores_pytests_line() -> None:
    from pathlib import Path

    terminal = FakeTerminal()
    terminal.startpath = Path("/r")
    terminal.currentfspath = Path("/r/test_months.yaml")  # pytest wrote `test_months.yaml ` already
    with reporting(TerminalProgress(terminal, tty=True)):
        with progress_task("mining", total=100, unit="tokens") as task:
            task.advance(100)
    assert terminal.out.startswith("\n\rneurontest: mining (100 tokens) ...")
    assert terminal.out.count("\n") == 2  # pytest's line ended, then our final line
    assert terminal.out.endswith("\ntest_months.yaml ")  # the item's dot lands after its name
    assert terminal.currentfspath == Path("/r/test_months.yaml")


def test_loading_bars_are_off_while_loading_and_restored_after() -> None:
    from transformers.utils import logging as hf_logging

    from neurontest.engine.models.loading import quiet_loading_bars

    assert hf_logging.is_progress_bar_enabled()
    with quiet_loading_bars():
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled()


PLANTED = textwrap.dedent("""\
    model: planted
    corpus: planted
    corpus_tokens: null
    window: 16
    neurons:
      - id: L0N3
        fires_on: {tokens: [January, March]}
        threshold: 1.0
        claims:
          - kind: activation
            recall: ">= 0.5"
          - kind: invariant
            texts: ["we met in [[March]]"]
    """)


@pytest.mark.parametrize("quiet", [False, True])
def test_a_run_shows_mining_and_perturbation_progress_unless_quiet(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, quiet: bool) -> None:
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(pytester.path / "cache"))  # mining happens
    pytester.makefile(".yaml", test_m=PLANTED)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--neurontest-report", "none",
                                           *(["-q"] if quiet else []))
    result.assert_outcomes(passed=2)
    text = result.stdout.str()
    if quiet:
        assert "neurontest: mining" not in text and "neurontest: perturbing" not in text
        return
    # Not a terminal: one start and one end line per task, before the summary, never captured.
    assert text.count("neurontest: mining 1 neuron(s) (") == 1
    assert text.count("neurontest: mining 1 neuron(s): ") == 1
    assert text.count("neurontest: perturbing L0N3 (50 texts) ...") == 1
    assert "Captured" not in text and "Loading weights" not in text
    result.stdout.fnmatch_lines(["test_m.yaml ", "neurontest: mining 1 neuron(s) (*",
                                 "neurontest: mining 1 neuron(s): * tokens done in *",
                                 "test_m.yaml .*"])
