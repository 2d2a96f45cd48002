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
    started: float = field(default_factory=lambda: time.monotonic())
    finished: bool = False
    note: str = ""  # the end state's words ("in 21 s", "failed")
    phase: str = ""  # what the time went to, for the run's phase line (PHASES); "" = not counted
    silent: bool = False  # timed for the phase line, never shown as a progress line
    detail: str = ""  # live words after the counts (an SAE fit's current loss)

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

#: The phases a run's time is told in, in the order the phase line lists them.
PHASES = ("conversion", "model load", "corpus", "SAE fits", "mining", "matching", "searches",
          "claims")

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
                 bar: bool = False, phase: str = "") -> None:
        self.event = ProgressEvent(name, total=total, unit=unit, phase=phase)
        self.callback = current_callback()
        self._bar: Any = None
        if self.callback is None and bar:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=f"neurontest: {name}", unit=unit or "it", leave=False)
        self._emit()

    def _emit(self) -> None:
        if self.callback is not None:
            self.callback(self.event)

    def advance(self, amount: float, detail: str | None = None) -> None:
        self.event.done += amount
        if detail is not None:
            self.event.detail = detail
        if self._bar is not None:
            self._bar.update(amount)
        self._emit()

    def finish(self, note: str = "") -> None:
        if self.event.finished:
            return
        self.event.finished, self.event.note = True, note or self.event.note
        if self._bar is not None:
            self._bar.close()
        self._emit()


@contextmanager
def progress_task(name: str, *, total: float | None = None, unit: str = "",
                  bar: bool = False, phase: str = "") -> Iterator[ProgressTask]:
    """A task for the block; it finishes (noting a failure) when the block exits. `phase`
    (one of PHASES) counts its time in the run's phase line."""
    task = ProgressTask(name, total=total, unit=unit, bar=bar, phase=phase)
    try:
        yield task
    except BaseException:
        task.finish("failed")
        raise
    task.finish()


@contextmanager
def timed_step(phase: str, name: str) -> Iterator[None]:
    """Count the block's time under `phase` (and `name` within it) without showing a line: a
    claim's own computation, told apart from the mining and searches it triggers."""
    callback = current_callback()
    if callback is None:
        yield
        return
    event = ProgressEvent(name, phase=phase, silent=True)
    callback(event)
    try:
        yield
    finally:
        event.finished = True
        callback(event)


@dataclass
class PhaseTimes:
    """Seconds per phase (each task's own time: a task inside another counts in its own phase,
    not twice), per name within the `claims` phase, and the mining passes' tokens."""

    seconds: dict[str, float] = field(default_factory=dict)
    claims: dict[str, float] = field(default_factory=dict)
    mining_passes: int = 0
    mining_tokens: float = 0.0

    def add(self, other: PhaseTimes) -> None:
        """Fold in another process's times (an xdist worker's)."""
        for phase, seconds in other.seconds.items():
            self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds
        for name, seconds in other.claims.items():
            self.claims[name] = self.claims.get(name, 0.0) + seconds
        self.mining_passes += other.mining_passes
        self.mining_tokens += other.mining_tokens

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": dict(self.seconds), "claims": dict(self.claims),
                "mining_passes": self.mining_passes, "mining_tokens": self.mining_tokens}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhaseTimes:
        return cls(dict(data.get("seconds", {})), dict(data.get("claims", {})),
                   int(data.get("mining_passes", 0)), float(data.get("mining_tokens", 0.0)))

    def rows(self, wall: float | None = None) -> list[tuple[str, float, str]]:
        """(phase, seconds, note) in PHASES order, then `other` (the rest of `wall`)."""
        rows = []
        for phase in PHASES:
            seconds = self.seconds.get(phase)
            if not seconds or seconds < 0.05:
                continue
            note = ""
            if phase == "mining" and self.mining_passes:
                rate = self.mining_tokens / seconds if seconds > 0 else 0.0
                note = (f"{self.mining_passes} pass{'es' if self.mining_passes > 1 else ''}, "
                        f"{rate:,.0f} tokens/s")
            elif phase == "claims" and self.claims:
                top = sorted(self.claims.items(), key=lambda kv: -kv[1])
                note = ", ".join(f"{name} {_seconds(t)}" for name, t in top)
            rows.append((phase, seconds, note))
        if wall is not None:
            rest = wall - sum(seconds for _, seconds, _ in rows)
            if rest >= 0.5:
                rows.append(("other", rest, "imports, collection, reports"))
        return rows

    def line(self, wall: float | None = None) -> str:
        """`conversion 19 s · corpus 12 s · mining 166 s (1 pass, 602 tokens/s) · ...`"""
        return " · ".join(f"{phase} {_seconds(seconds)}" + (f" ({note})" if note else "")
                          for phase, seconds, note in self.rows(wall))


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:,.0f} s"


class PhaseClock:
    """A `ProgressCallback` that times every phased task (its own time, children excluded) and
    passes each event on to `forward` (a terminal reporter), silent steps excepted."""

    def __init__(self, forward: ProgressCallback | None = None) -> None:
        self.forward = forward
        self.times = PhaseTimes()
        self._open: list[list[Any]] = []  # [event, seconds of phased children]

    def __call__(self, event: ProgressEvent) -> None:
        if event.phase:
            self._time(event)
        if self.forward is not None and not event.silent:
            self.forward(event)

    def take(self) -> PhaseTimes:
        """The times so far, starting afresh (an xdist worker ships them in pieces)."""
        times, self.times = self.times, PhaseTimes()
        return times

    def _time(self, event: ProgressEvent) -> None:
        if not event.finished:
            if not any(entry[0] is event for entry in self._open):
                self._open.append([event, 0.0])
            return
        index = next((i for i in range(len(self._open) - 1, -1, -1) if self._open[i][0] is event),
                     None)
        if index is None:
            return  # finished twice, or began before this clock
        _, children = self._open.pop(index)
        elapsed = event.elapsed
        if index > 0:
            self._open[index - 1][1] += elapsed
        times = self.times
        own = max(0.0, elapsed - children)
        times.seconds[event.phase] = times.seconds.get(event.phase, 0.0) + own
        if event.phase == "claims":
            times.claims[event.task] = times.claims.get(event.task, 0.0) + own
        elif event.phase == "mining" and event.note != "failed":
            times.mining_passes += 1
            if event.unit == "tokens":
                times.mining_tokens += event.done
