"""Baselines: every claim's measured metrics, recorded per hypothesis file and model, so a later
run catches drift across checkpoints even while the claim's own bounds still hold.

    hypotheses/test_months.yaml
    hypotheses/baselines/test_months.smollm2-135m.json    # --neurontest-update-baselines

The flow follows pytest-regressions and syrupy (docs/ci-gating.md):

* a normal run compares each claim's metrics with its entry; a metric whose paired difference
  `abs(new - old)` exceeds its tolerance fails the item, naming the baseline and the new value.
  Baseline and rerun measure the same seeded corpus, so the difference is exact, not a sample:
  confidence intervals are recorded beside the metrics and shown in the drift message, but never
  added to the allowed drift;
* a missing entry is listed in the terminal summary (a failure with --neurontest-require-baselines);
  entries whose claim no longer exists are listed as unused;
* --neurontest-update-baselines records instead of comparing, but only claims whose verdict says
  they behave as their file says ("passed", or "xfailed": an xfail claim that fails as expected);
  a failing, inconclusive or xpassed claim keeps its old entry and is listed in the summary.
  --neurontest-update-baselines-all records every claim. Each entry stores its `outcome` (the
  verdict it was recorded with), shown in a later drift message when today's verdict differs.
  Writes are queued and flushed once at session finish, each file atomically
  (neurontest.engine.store.files: temp file, fsync, os.replace); an interrupted run writes none, and
  temp files left by a run killed mid-write are deleted when a later run collects that file.

Baselines are JSON (sorted keys, one entry per claim, values rounded to 6 significant digits), so
their git diffs read as "this metric moved", and pytest never collects them as hypothesis files.
This module must stay import-cheap: the plugin builds its store at configure time.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurontest.claims.tolerance import Tolerance, default_tolerance, one_tolerance, parse_tolerance  # noqa: F401
from neurontest.engine.store.files import remove_abandoned_temps, write_atomic

if TYPE_CHECKING:
    from neurontest.claims.base import ClaimResult

FORMAT = 1
UPDATE_HINT = "if the change is intended, re-record with --neurontest-update-baselines"
PAIRED_NOTE = "CIs shown for context, not added to the tolerance: the rerun is paired with the baseline"
#: A claim's verdict as decided before its baseline check.
VERDICTS = ("passed", "failed", "inconclusive", "xfailed", "xpassed")
#: The verdicts that say a claim behaves as its file says: the ones update mode records.
RECORDED_VERDICTS = frozenset({"passed", "xfailed"})
#: `BaselineStore.update`: "" compares, "passing" records RECORDED_VERDICTS, "all" records all.
UPDATE_MODES = ("", "passing", "all")


def round6(value: float) -> float | None:
    """6 significant digits (stable diffs); NaN/inf become null, as JSON has no NaN."""
    value = float(value)
    return float(f"{value:.6g}") if math.isfinite(value) else None


def baseline_path(hypothesis_file: Path | str, model_label: str) -> Path:
    """Where the baseline of one hypothesis file on one model lives."""
    path = Path(hypothesis_file)
    return path.parent / "baselines" / f"{path.stem}.{model_label}.json"


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file in the same folder, fsync and os.replace: readers never see half a
    file, and a kill -9 leaves the old one."""
    write_atomic(path, text, durable=True, clean_leftovers=True)


@dataclass
class BaselineStore:
    """Loads, compares and (in update mode) queues baselines for one pytest session."""

    update: str = ""  # one of UPDATE_MODES; truthy exactly when recording
    require: bool = False
    root: Path | None = None  # paths in messages are shown relative to it
    expected: dict[Path, set[str]] = field(default_factory=lambda: defaultdict(set))
    pending: dict[Path, dict[str, Any]] = field(default_factory=dict)
    identity: dict[Path, dict[str, Any]] = field(default_factory=dict)
    missing: dict[Path, list[str]] = field(default_factory=lambda: defaultdict(list))
    drifted: list[str] = field(default_factory=list)
    checked: int = 0
    written: list[str] = field(default_factory=list)
    #: update mode: claims not recorded for their verdict, (path, claim_id, verdict)
    not_recorded: list[tuple[Path, str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    worker: bool = False  # an xdist worker: ships `events` to the controller, which writes
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # nodeid -> what check() did
    _loaded: dict[Path, dict[str, Any] | None] = field(default_factory=dict)
    _swept: set[Path] = field(default_factory=set)  # baselines folders cleaned of leftover temps

    def __post_init__(self) -> None:
        if isinstance(self.update, bool) or self.update is None:  # the old boolean form
            self.update = "passing" if self.update else ""
        if self.update not in UPDATE_MODES:
            raise ValueError(f"BaselineStore(update=...) must be one of {UPDATE_MODES}, got {self.update!r}")

    # -- collection ---------------------------------------------------------------------------
    def collected(self, item: Any) -> None:
        """Remember every collected claim (before -k deselection) to tell unused entries apart."""
        if hasattr(item, "claim_id") and hasattr(item, "model_label"):
            path = baseline_path(item.path, item.model_label)
            self.expected[path].add(item.claim_id)
            if path.parent not in self._swept:  # temp files of a run killed while writing
                self._swept.add(path.parent)
                remove_abandoned_temps(path.parent)

    # -- running -----------------------------------------------------------------------------
    def check(self, item: Any, result: ClaimResult, lab_info: dict[str, Any],
              verdict: str = "passed") -> str | None:
        """Compare (or, when updating, queue) one claim's metrics; the drift message, if any.

        `verdict` is the claim's outcome as decided before this check (one of VERDICTS). It is
        stored in the entry as `outcome`; in update mode only RECORDED_VERDICTS are queued,
        unless the mode is "all"."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
        path = baseline_path(item.path, item.model_label)
        before = (self.checked, len(self.drifted), len(self.missing.get(path, ())))
        message = self._check(item, path, result, lab_info, verdict)
        # What this check did, as plain data: under xdist the controller replays it (absorb), so
        # its summary and the baselines it writes equal a serial run's.
        queued = self.update and (verdict in RECORDED_VERDICTS or self.update == "all")
        status = ("pending" if queued else "not_recorded" if self.update
                  else "drifted" if len(self.drifted) > before[1]
                  else "missing" if len(self.missing.get(path, ())) > before[2]
                  else "checked" if self.checked > before[0] else "")
        self.events[item.nodeid] = {
            "path": str(path), "claim_id": item.claim_id, "status": status, "outcome": verdict,
            "expected": sorted(self.expected.get(path, ())),
            "entry": self.pending.get(path, {}).get(item.claim_id) if queued else None,
            "identity": self.identity.get(path) if queued else None,
        }
        return message

    def absorb(self, nodeid: str, event: dict[str, Any]) -> None:
        """Replay a worker's check (the xdist controller's side of `events`)."""
        path = Path(event["path"])
        self.expected[path].update(event.get("expected", ()))
        status = event.get("status")
        if status in ("checked", "drifted"):
            self.checked += 1
        if status == "drifted":
            self.drifted.append(nodeid)
        elif status == "missing":
            self.missing[path].append(event["claim_id"])
        elif status == "pending" and event.get("entry") is not None:
            self.pending.setdefault(path, {})[event["claim_id"]] = event["entry"]
            self.identity[path] = event["identity"]
        elif status == "not_recorded":
            self.not_recorded.append((path, event["claim_id"], event.get("outcome", "")))

    def _check(self, item: Any, path: Path, result: ClaimResult,
               lab_info: dict[str, Any], verdict: str) -> str | None:
        metrics = {name: round6(value) for name, value in result.metrics().items()}
        intervals = {name: [round6(lo), round6(hi)] for name, (lo, hi) in result.intervals().items()}
        override = parse_tolerance(item.claim.config["tolerance"]) if "tolerance" in item.claim.config else {}
        if self.update:
            if verdict not in RECORDED_VERDICTS and self.update != "all":
                # Recording it would make a broken claim the reference; its old entry stays.
                self.not_recorded.append((path, item.claim_id, verdict))
                return None
            tolerances = {m: _pick(m, override, {}).to_json() for m in metrics}
            entry = {"kind": result.kind, "neuron": result.neuron.short_id, "metrics": metrics,
                     "tolerance": tolerances, "outcome": verdict}
            if intervals:
                entry["intervals"] = intervals
            self.pending.setdefault(path, {})[item.claim_id] = entry
            self.identity[path] = _identity(lab_info) | {"hypothesis_file": Path(item.path).name}
            return None
        try:
            stored = self._load(path)
        except ValueError as exc:
            return f"baseline {self._show(path)} is unreadable ({exc}); {UPDATE_HINT}"
        entry = (stored or {}).get("claims", {}).get(item.claim_id)
        if entry is None:
            self.missing[path].append(item.claim_id)
            if self.require:
                return (f"{item.claim_id}: no baseline in {self._show(path)} "
                        f"(--neurontest-require-baselines); record it with --neurontest-update-baselines")
            return None
        self.checked += 1
        lines, shown_ci = [], False
        for name, old in sorted(entry.get("metrics", {}).items()):
            if name not in metrics:
                continue
            tolerance = _pick(name, override, entry.get("tolerance", {}))
            # Same seeded corpus on both sides: the difference is paired and exact, so the
            # tolerance alone bounds it. A sampling interval would let real regressions through.
            if not tolerance.allows(old, metrics[name]):
                shown = _interval_note(entry.get("intervals", {}).get(name))
                shown_ci = shown_ci or bool(shown)
                lines.append(f"  {name} drifted: baseline {_fmt(old)} -> now {_fmt(metrics[name])} "
                             f"(tolerance {tolerance}{shown})")
        if not lines:
            return None
        self.drifted.append(item.nodeid)
        head = f"{item.claim_id} on {item.model_label} drifted from its baseline {self._show(path)}"
        notes = _identity_notes(stored or {}, _identity(lab_info))
        if shown_ci:
            notes.append(f"  ({PAIRED_NOTE})")
        recorded_as = entry.get("outcome")
        if isinstance(recorded_as, str) and recorded_as and recorded_as != verdict:
            notes.append(f"  (baseline recorded as {recorded_as}; now {verdict})")
        return "\n".join([head, *lines, *notes, f"  {UPDATE_HINT}"])

    # -- finishing ---------------------------------------------------------------------------
    def finish(self, interrupted: bool = False) -> bool:
        """Flush queued baselines (update mode); True if a file could not be written. An xdist
        worker writes nothing: the controller writes each file once, from every worker's events."""
        if not self.update or interrupted or self.worker:
            return False
        for path, entries in sorted(self.pending.items()):
            try:
                stored = self._load(path) or {}
            except ValueError:
                stored = {}  # an unreadable baseline is replaced, not merged
            # Keep entries of claims that exist but did not run (deselected, errored); drop the
            # ones whose claim is gone from the file.
            keep = self.expected.get(path, set(entries))
            claims = {cid: e for cid, e in stored.get("claims", {}).items() if cid in keep}
            claims.update(entries)
            document = {"format": FORMAT, **self.identity[path], "claims": claims}
            text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"
            try:
                if path.exists() and path.read_text(encoding="utf-8") == text:
                    continue
                atomic_write_text(path, text)
            except OSError as exc:
                self.errors.append(f"could not write baseline {self._show(path)}: {exc}")
                continue
            self.written.append(f"{self._show(path)} ({len(claims)} claims)")
        return bool(self.errors)

    def unused(self) -> dict[Path, list[str]]:
        """Baseline entries of collected files whose claim no longer exists."""
        out = {}
        for path, ids in self.expected.items():
            try:
                stored = self._load(path)
            except ValueError:
                continue
            extra = sorted(set((stored or {}).get("claims", {})) - ids)
            if extra:
                out[path] = extra
        return out

    def summary_lines(self) -> list[str]:
        """Plain lines for the terminal summary (printing is the plugin's job)."""
        lines = list(self.errors)
        if self.update:
            lines += [f"baseline written: {w}" for w in self.written]
            if not self.written and not self.errors and self.pending:
                lines.append("baselines: already up to date")
            if self.not_recorded:
                lines.append(f"baselines: not recorded for {len(self.not_recorded)} failing/inconclusive "
                             f"claims (old entries kept); --neurontest-update-baselines-all records them too")
                by_path: dict[Path, list[str]] = defaultdict(list)
                for path, claim_id, verdict in self.not_recorded:
                    by_path[path].append(f"{claim_id} ({verdict})")
                for path, ids in sorted(by_path.items()):
                    lines.append(f"  not recorded in {self._show(path)}: {', '.join(sorted(ids))}")
            return lines
        missing = sum(len(v) for v in self.missing.values())
        unused = self.unused()
        if not (self.checked or missing or unused):
            return lines
        if missing and not self.checked and not unused:
            return lines + [f"baselines: none recorded for {missing} claims "
                            f"(--neurontest-update-baselines records them)"]
        lines.append(f"baselines: {self.checked} checked, {len(self.drifted)} drifted, "
                     f"{missing} missing, {sum(len(v) for v in unused.values())} unused")
        for path, ids in sorted(self.missing.items()):
            lines.append(f"  missing in {self._show(path)}: {', '.join(sorted(ids))}")
        for path, ids in sorted(unused.items()):
            lines.append(f"  unused in {self._show(path)}: {', '.join(ids)}")
        if missing or unused:
            lines.append(f"  {UPDATE_HINT}")
        return lines

    # -- helpers -----------------------------------------------------------------------------
    def _load(self, path: Path) -> dict[str, Any] | None:
        if path not in self._loaded:
            try:
                data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(str(exc)) from None
            if data is not None and not isinstance(data.get("claims"), dict):
                raise ValueError("no `claims` mapping")
            self._loaded[path] = data
        return self._loaded[path]

    def _show(self, path: Path) -> str:
        if self.root is not None:
            try:
                return str(path.resolve().relative_to(self.root.resolve()))
            except ValueError:
                pass
        return str(path)


def _pick(metric: str, override: dict[str, Tolerance], stored: dict[str, Any]) -> Tolerance:
    # The YAML's `tolerance:` wins (edits apply without re-recording), then the baseline file's
    # (hand-editable), then the default for the metric's scale.
    if metric in override:
        return override[metric]
    if "*" in override:
        return override["*"]
    if metric in stored:
        try:
            return one_tolerance(stored[metric], metric)
        except ValueError:
            pass
    return default_tolerance(metric)


def _interval_note(interval: Any) -> str:
    """The baseline's stored `[lo, hi]` interval for a drift message ("" when there is none or it
    is unreadable): shown for context, never part of the allowance."""
    try:
        lo, hi = (float(v) for v in interval)
    except (TypeError, ValueError):
        return ""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    return f"; baseline CI {_fmt(lo)} to {_fmt(hi)}"


def _identity(info: dict[str, Any]) -> dict[str, Any]:
    model = info.get("model", {})
    corpus = info.get("corpus")
    recorded = None if corpus is None else {
        k: corpus.get(k) for k in ("name", "fingerprint", "window", "n_tokens", "seed")}
    if recorded is not None and corpus.get("split", "all") != "all":
        recorded["split"] = corpus["split"]  # which half the baseline was measured on
    return {
        "model": {k: model.get(k) for k in ("name", "revision", "fingerprint", "dtype")},
        "corpus": recorded,
    }


def _identity_notes(stored: dict[str, Any], now: dict[str, Any]) -> list[str]:
    notes = []
    for what in ("model", "corpus"):
        old, new = (stored.get(what) or {}).get("fingerprint"), (now.get(what) or {}).get("fingerprint")
        if old and new and old != new:
            notes.append(f"  ({what} fingerprint changed since the baseline: {old} -> {new})")
    return notes


def _fmt(value: float | None) -> str:
    return "nan" if value is None else f"{value:.4g}"
