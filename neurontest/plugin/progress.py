"""Live progress of long work through pytest's terminal reporter, so a first run does not sit on
`collected 1 item` for minutes while the model is converted and the corpus mined.

The engine emits `ProgressEvent`s (neurontest/engine/progress.py); this turns them into lines:

* a terminal (TTY): one line rewritten in place (`mining 12 neuron(s): 41,000/100,026 tokens,
  2,300 tokens/s, ETA 26 s`), kept as a final line when the task ends;
* not a terminal (CI logs): one line when a task starts and one when it ends;
* `-q` (or an xdist worker, which has no terminal): nothing.

Writes go around pytest's output capture (as its live logging does), since mining runs inside a
test's call phase, where stdout and stderr are captured.
"""

from __future__ import annotations

import time
from typing import Any

from neurontest.engine.progress import ProgressEvent

_REDRAW_S = 0.25  # at most four redraws a second: a line per batch would flood a slow terminal


def _amount(value: float, unit: str) -> str:
    return f"{value:,.0f}" + (f" {unit}" if unit else "")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def describe(event: ProgressEvent) -> str:
    """The line shown for a task's state."""
    text = f"neurontest: {event.task}"
    if event.finished:
        done = f"{_amount(event.done, event.unit)} " if event.total else ""
        return f"{text}: {done}{event.note or 'done'} in {_duration(event.elapsed)}"
    if event.done == 0:
        return text + (f" ({_amount(event.total, event.unit)}) ..." if event.total else " ...")
    parts = []
    if event.total:
        parts.append(f"{event.done:,.0f}/{_amount(event.total, event.unit)}")
    elif event.done:
        parts.append(_amount(event.done, event.unit))
    rate = event.rate
    if rate is not None:
        parts.append(f"{rate:,.0f} {event.unit or 'it'}/s")
    eta = event.eta
    if eta is not None:
        parts.append(f"ETA {_duration(eta)}")
    if event.detail:
        parts.append(event.detail)
    return text + (": " + ", ".join(parts) if parts else " ...")


class TerminalProgress:
    """A `ProgressCallback` writing through pytest's terminal reporter."""

    def __init__(self, terminal: Any, capture: Any = None, *, tty: bool | None = None) -> None:
        self.terminal = terminal
        self.capture = capture  # pytest's CaptureManager (None: nothing to suspend)
        self.tty = bool(terminal.isatty) if tty is None else tty
        self._drawn = 0.0
        self._live = False  # a rewritten line is on screen
        self._prefix: Any = None  # pytest's line before ours (its `currentfspath`)
        self._open = False  # between a task's first line and its end

    def __call__(self, event: ProgressEvent) -> None:
        if event.silent:
            return
        started = event.done == 0 and not event.finished
        now = time.monotonic()
        if not self.tty and not (started or event.finished):
            return  # logs get the start and end lines only
        if self.tty and not (started or event.finished) and now - self._drawn < _REDRAW_S:
            return
        self._drawn = now
        self._write(describe(event), final=event.finished or not self.tty, ended=event.finished)

    def _write(self, line: str, *, final: bool, ended: bool) -> None:
        if self.capture is not None:
            with self.capture.global_and_fixture_disabled():
                self._draw(line, final, ended)
        else:
            self._draw(line, final, ended)

    def _draw(self, line: str, final: bool, ended: bool) -> None:
        terminal = self.terminal
        if not self._live and not self._open:
            # Leave pytest's current line (`file.yaml ..`) alone: ours go below it, and it is
            # written again after them, so the running item's result lands after its name.
            self._prefix = terminal.currentfspath
            terminal.ensure_newline()
            self._open = True
        if final:
            if self.tty:
                terminal.rewrite(line, erase=True)
                terminal.write("\n")
            else:
                terminal.write_line(line)
            self._live = False
            if ended:
                self._open = False
                self._restore_prefix()
        else:
            terminal.rewrite(line, erase=True)
            self._live = True
        terminal.flush()

    def _restore_prefix(self) -> None:
        from pathlib import Path

        from _pytest.pathlib import bestrelpath

        prefix, terminal = self._prefix, self.terminal
        if isinstance(prefix, Path):  # `file.yaml ` before the dots
            terminal.write(bestrelpath(terminal.startpath, prefix) + " ")
        elif isinstance(prefix, str):  # -v: the item's location line
            terminal.write(prefix)
        else:
            return
        terminal.currentfspath = prefix


def terminal_progress(config: Any) -> TerminalProgress | None:
    """The progress reporter of this pytest run, or None (quiet, an xdist worker, no terminal)."""
    if config.option.verbose < 0 or hasattr(config, "workerinput"):
        return None
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if terminal is None:
        return None
    return TerminalProgress(terminal, config.pluginmanager.get_plugin("capturemanager"))
