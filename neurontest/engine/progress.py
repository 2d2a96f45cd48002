"""Progress of long work (model conversion, corpus mining, perturbation searches), reported upward
without importing upward: the engine and the layers above it emit `ProgressEvent`s to whatever
`ProgressCallback` the caller installed with `reporting(...)` (the pytest plugin writes them
through pytest's terminal reporter: neurontest/plugin/progress.py). With no callback installed a
task falls back to a tqdm bar on stderr when asked to (notebooks, scripts), or stays silent.

    with progress_task("mining 12 neuron(s)", total=100_000, unit="tokens", bar=True) as task:
        for chunk in chunks:
            ...
            task.advance(len(chunk))
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator


@dataclass
class ProgressEvent:
    """One state of a task: `done` of `total` `unit`s (total None: unknown), since `started`."""

    task: str
    done: float = 0.0
    total: float | None = None
    unit: str = ""
    started: float = field(default_factory=time.monotonic)
    finished: bool = False
    note: str = ""  # the end state's words ("in 21 s", "failed")

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float | None:
        """Units per second so far (None until there is something to divide)."""
        elapsed = self.elapsed
        return self.done / elapsed if self.done > 0 and elapsed > 0 else None

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far (None without a total or a rate)."""
        rate = self.rate
        if self.total is None or rate is None or rate <= 0:
            return None
        return max(0.0, (self.total - self.done) / rate)


ProgressCallback = Callable[[ProgressEvent], None]

_callbacks: list[ProgressCallback] = []


@contextmanager
def reporting(callback: ProgressCallback) -> Iterator[None]:
    """Send every task's events to `callback` inside the block (nested blocks: the innermost)."""
    _callbacks.append(callback)
    try:
        yield
    finally:
        _callbacks.remove(callback)


def current_callback() -> ProgressCallback | None:
    return _callbacks[-1] if _callbacks else None


class ProgressTask:
    """A running task: `advance(n)` as work completes; events go to the installed callback."""

    def __init__(self, name: str, *, total: float | None = None, unit: str = "",
                 bar: bool = False) -> None:
        self.event = ProgressEvent(name, total=total, unit=unit)
        self.callback = current_callback()
        self._bar: Any = None
        if self.callback is None and bar:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=f"neurontest: {name}", unit=unit or "it", leave=False)
        self._emit()

    def _emit(self) -> None:
        if self.callback is not None:
            self.callback(self.event)

    def advance(self, amount: float) -> None:
        self.event.done += amount
        if self._bar is not None:
            self._bar.update(amount)
        self._emit()

    def finish(self, note: str = "") -> None:
        if self.event.finished:
            return
        self.event.finished, self.event.note = True, note
        if self._bar is not None:
            self._bar.close()
        self._emit()


@contextmanager
def progress_task(name: str, *, total: float | None = None, unit: str = "",
                  bar: bool = False) -> Iterator[ProgressTask]:
    """A task for the block; it finishes (noting a failure) when the block exits."""
    task = ProgressTask(name, total=total, unit=unit, bar=bar)
    try:
        yield task
    except BaseException:
        task.finish("failed")
        raise
    task.finish()
