"""Session state of the pytest plugin: one object on `config.stash`, methods by pytest phase.

It keeps one `Lab` per (model, corpus) so each model loads once per session, plans which
neurons every collected claim needs so the corpus is mined once per lab, and records each
claim's outcome for the terminal summary and the HTML report.
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from neurontest.errors import MiningFailedError, NeurontestError, NeurontestLoadError
from neurontest.report.records import ClaimRecord, record_from_dict, record_to_dict  # noqa: F401

if TYPE_CHECKING:
    from neurontest.claims.runner import ClaimRunner
    from neurontest.claims.settings import RunSettings
    from neurontest.engine.units.protocol import UnitRef
    from neurontest.lab import Lab

#: Where the session lives on `config.stash` (hooks, collectors and fixtures all read it there).
session_key: pytest.StashKey[NeurontestSession] = pytest.StashKey()


@dataclass(frozen=True)
class LabKey:
    """What makes two claims share a model and a mined corpus."""

    model: str | None
    revision: str | None
    corpus: str | None
    corpus_tokens: int | None
    window: int
    seed: int
    split: str = "all"


@dataclass(eq=False)  # registered as a pytest plugin: hashed by identity
class NeurontestSession:
    """Everything the plugin remembers between hooks."""

    model: str | None = None
    revision: str | None = None
    corpus: str | None = None
    corpus_tokens: int | None = None
    split: str | None = None  # --neurontest-split: overrides every file's `split:`
    device: str = "cpu"
    batch_size: int | None = None  # None: automatic (neurontest.engine.run.batching)
    cache: bool = True
    report_path: str | None = None
    report_written: str | None = None  # set once the report is on disk
    report_error: str | None = None  # why the report could not be written
    labs: dict[LabKey, Lab] = field(default_factory=dict)
    lab_errors: dict[LabKey, str] = field(default_factory=dict)
    planned: dict[LabKey, set[UnitRef]] = field(default_factory=lambda: defaultdict(set))
    records: dict[str, ClaimRecord] = field(default_factory=dict)
    collection_errors: dict[str, bool] = field(default_factory=dict)  # nodeid -> hypothesis file?
    started: float = field(default_factory=time.time)
    also_models: list[str] = field(default_factory=list)  # --neurontest-also-model
    match_neurons: bool = False  # --neurontest-match-neurons
    matches: dict[Any, Any] = field(default_factory=dict)  # (ref key, key, neuron) -> NeuronMatch
    baselines: Any = None  # neurontest.plugin.baselines.BaselineStore
    froze_gc: bool = False  # gc.freeze() after a model load; undone by close()
    results: Any = None  # neurontest.plugin.result_cache.ResultCache; None with --neurontest-no-cache
    stamps: dict[LabKey, str | None] = field(default_factory=dict)  # lab -> its files' stamp
    executor_name: str = "local"  # --neurontest-executor
    ray_address: str | None = None  # --neurontest-ray-address
    executor: Any = None  # neurontest.engine.run.executors.Executor, built when a lab first needs one
    settings: RunSettings = field(default_factory=lambda: _default_settings())
    runners: dict[LabKey, ClaimRunner] = field(default_factory=dict)
    #: --neurontest-error-control: results computed before their items ran, and each family
    #: member's adjusted p-value (None until the family is decided)
    precomputed: dict[str, Any] = field(default_factory=dict)
    adjusted: dict[str, float] | None = None
    family_dropped: set[str] = field(default_factory=set)  # held alone, not after adjustment
    clock: Any = None  # neurontest.engine.progress.PhaseClock: where the run's time went

    def lab_key(self, model: str | None, revision: str | None, corpus: str | None,
                corpus_tokens: int | None, window: int, seed: int, split: str = "all") -> LabKey:
        """Command-line choices override what a hypothesis file names."""
        return LabKey(self.model or model, self.revision or revision, self.corpus or corpus,
                      self.corpus_tokens if self.corpus_tokens is not None else corpus_tokens,
                      window, seed, self.split or split)

    def lab(self, key: LabKey) -> Lab:
        """The lab for a key. Its model loads now, or on first use when an earlier run recorded
        the fingerprints of the same model and corpus files (a warm run whose claim results are
        all remembered then loads nothing). A failed load is remembered so every file naming
        that model reports it without retrying."""
        from neurontest.lab import CorpusOptions, Lab
        from neurontest.plugin.result_cache import lab_stamp

        if key in self.lab_errors:
            raise NeurontestLoadError(self.lab_errors[key])
        if key not in self.labs:
            options = CorpusOptions(key.corpus, key.window, key.corpus_tokens, key.seed, key.split)
            stamp = lab_stamp(key.model, key.revision, options, self.device) if self.results else None
            identity = self.results.lab_identity(stamp) if stamp else None
            settings = {"cache": self.cache, "batch_size": self.batch_size,
                        "device": self.device, "executor": self.mining_executor()}
            if identity is not None:
                lab = Lab.deferred(lambda: self._load_model(key), identity, options, **settings)
            else:
                lab = Lab(self._load_model(key), options, **settings)
            self.labs[key], self.stamps[key] = lab, stamp
        return self.labs[key]

    def runner(self, key: LabKey) -> ClaimRunner:
        """The claim runner of a lab: every claim of the session on that lab runs through it."""
        if key not in self.runners:
            from neurontest.claims.runner import ClaimRunner

            self.runners[key] = ClaimRunner(self.lab(key), self.results, self.settings)
        runner = self.runners[key]
        runner.settings = self.settings  # the progress sink joins at session start
        return runner

    def mining_executor(self) -> Any:
        """Who mines for every lab of the session: None for this process (`local`), else the
        executor (one Ray pool shared by all labs; each model takes its turn on it)."""
        if self.executor is None and self.executor_name != "local":
            from neurontest.engine.run.executors import make_executor

            self.executor = make_executor(self.executor_name, address=self.ray_address,
                                          device=self.device)
        return self.executor

    def _load_model(self, key: LabKey) -> Any:
        from neurontest.engine.models.loading import load_model

        if key in self.lab_errors:
            raise NeurontestLoadError(self.lab_errors[key])
        try:
            model = load_model(key.model, device=self.device, revision=key.revision)
        except (NeurontestError, ValueError) as exc:
            self.lab_errors[key] = str(exc)
            raise NeurontestLoadError(str(exc)) from None
        # The model and the libraries just imported live as long as the session; moving them
        # out of the cyclic collector's reach stops every later full collection rescanning
        # them (about 2 s of a warm suite run). Only objects alive now are affected.
        gc.freeze()
        self.froze_gc = True
        return model

    def remember_labs(self) -> None:
        """Record each loaded lab's fingerprints under its files' stamp, for later runs."""
        for key, lab in self.labs.items():
            stamp = self.stamps.get(key)
            identity = lab.resolved_identity()
            if stamp and self.results is not None and identity is not None:
                self.results.store_lab_identity(stamp, identity)

    def close(self) -> None:
        """Hand the frozen objects back to the collector (pytester runs nest in one process)."""
        if self.froze_gc:
            gc.unfreeze()
            self.froze_gc = False
        if self.executor is not None:
            self.executor.close()
            self.executor = None

    # -- collection ---------------------------------------------------------------------------
    def checked_key(self, path: Path, targets: list[Any], labs: list[Lab]) -> str | None:
        """The key under which a hypothesis file's collection checks against these labs are
        remembered; None without a result cache or when a corpus cannot be resolved (its error
        then surfaces when the claims run, as without the cache)."""
        from neurontest.plugin.result_cache import checked_key

        if self.results is None:
            return None
        try:
            # The corpus fingerprint covers the tokenizer, which the checks read.
            identities = [lab.identity() for lab in labs]
            labs_seen = [[identity["model"]["fingerprint"], identity["corpus"]["fingerprint"],
                          target.match_from is None] for target, identity in zip(targets, identities)]
            return checked_key(path.read_bytes(), labs_seen)
        except (NeurontestError, OSError, ValueError):
            return None

    def plan(self, key: LabKey, neurons: list[UnitRef]) -> None:
        self.planned[key].update(neurons)

    def register(self, record: ClaimRecord) -> None:
        self.records[record.nodeid] = record

    # -- running -----------------------------------------------------------------------------
    def prepared_lab(self, key: LabKey) -> Lab:
        """The lab with every planned neuron mined (one pass for all, on first call)."""
        lab = self.lab(key)
        if self.planned.get(key):
            try:
                from neurontest.engine.units.protocol import unit_order

                lab.prepare(sorted(self.planned[key], key=unit_order))
            except MiningFailedError:
                pass  # the lab remembers it: claims reading those neurons fail, the rest run
        return lab

    # -- many claims at once ------------------------------------------------------------------
    def decide_family(self, items: list[pytest.Item]) -> None:
        """Under --neurontest-error-control, before the first claim's verdict: run every selected
        claim that is claimed true, and adjust their one-sided p-values together (Holm or
        Benjamini-Hochberg over the run). Claims without a p-value (hand-written examples,
        perturbation searches) and claims marked xfail are not in the family."""
        if self.settings.error_control == "none" or self.adjusted is not None:
            return
        from neurontest.measure.multiplicity import adjust

        p_values: dict[str, float] = {}
        for item in items:
            if not hasattr(item, "compute") or getattr(item, "claimed_false", None) is not None:
                continue
            try:
                computed = item.compute()
            except Exception:  # noqa: BLE001 - the item raises it again when it runs itself
                continue
            self.precomputed[item.nodeid] = computed
            p_value = computed[1].p_value
            if p_value is not None:
                p_values[item.nodeid] = p_value
        ids = list(p_values)
        self.adjusted = dict(zip(ids, adjust([p_values[i] for i in ids], self.settings.error_control)))

    def family_failure(self, nodeid: str, result: Any) -> str:
        """Why a claim that holds on its own does not survive the run's error control ("" if
        it does, or is not in the family)."""
        adjusted = (self.adjusted or {}).get(nodeid)
        alpha = self.settings.alpha
        if adjusted is None or adjusted < alpha or result.verdict != "passed":
            return ""
        self.family_dropped.add(nodeid)
        return (f"{self.family_words()}: adjusted p = {adjusted:.3g}, not below alpha {alpha:g} "
                f"(p = {result.p_value:.3g} alone): with this many claims in the run, the evidence "
                f"is too weak to tell it from a pass by chance")

    def family_words(self) -> str:
        method = {"holm": "Holm (family-wise error)", "bh": "Benjamini-Hochberg (false discovery rate)"}
        return (f"{method.get(self.settings.error_control, self.settings.error_control)} over "
                f"{len(self.adjusted or {})} claims")

    def family_lines(self) -> list[str]:
        """The summary line of the run's error control: the family, the method, what survived."""
        if self.adjusted is None:
            return []
        survived = sum(1 for n in self.adjusted
                       if (record := self.records.get(n)) is not None and record.outcome == "passed")
        dropped = len(self.family_dropped)
        return [f"error control: {self.family_words()} at alpha {self.settings.alpha:g}: {survived} "
                f"of {survived + dropped} passing claims survive ({dropped} fail on their adjusted "
                f"p-value)"]

    # -- hooks: the session is registered as a plugin, so these receive every report ------------
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Tell broken hypothesis files from other collection errors."""
        if report.failed:
            is_hypothesis_file = report.nodeid.split("::")[0].endswith((".yaml", ".yml"))
            self.collection_errors[report.nodeid] = is_hypothesis_file

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Record each claim's outcome for the summary and report (under xdist, the controller
        also rebuilds each claim's record from what the worker shipped)."""
        from neurontest.plugin.outcomes import outcome_of

        properties = dict(report.user_properties)
        phases = properties.get("neurontest_phases")
        # `report.node`: set by xdist on the controller's copy of a worker's report.
        if phases is not None and self.clock is not None and getattr(report, "node", None) is not None:
            from neurontest.engine.progress import PhaseTimes

            self.clock.times.add(PhaseTimes.from_dict(phases))  # an xdist worker's share
        outcome = outcome_of(report)
        if outcome is None:
            return
        shipped = properties.get("neurontest")
        if shipped is not None and report.nodeid not in self.records:  # an xdist controller
            self.register(record_from_dict(shipped))
            event = properties.get("neurontest_baseline")
            if event is not None and self.baselines is not None:
                self.baselines.absorb(report.nodeid, event)
        if outcome == "failed" and properties.get("neurontest_drift_only"):
            outcome = "drifted"  # the claim itself holds (or is refuted as claimed)
        message = report.longreprtext if outcome in ("failed", "drifted", "error", "xfailed") else ""
        self.ran(report.nodeid, outcome, report.duration, message)

    def ran(self, nodeid: str, outcome: str, duration: float, message: str = "") -> None:
        record = self.records.get(nodeid)
        if record is None:
            return
        record.outcome = outcome
        record.duration += duration
        if message and not record.message:
            record.message = message

    # -- finishing ---------------------------------------------------------------------------
    def model_lines(self) -> list[str]:
        """One line per distinct (model, corpus) the run used: two lab keys naming the same
        files (a YAML file's defaults and the `neuron` fixture's) are one line, not two."""
        lines: list[str] = []
        for info in self.lab_descriptions():
            corpus = info.get("corpus", {})
            tokens = corpus.get("scorable_tokens")  # None until the corpus is sampled
            shown = f"{tokens:,} tokens" if isinstance(tokens, int) else "not sampled"
            split = corpus.get("split", "all")
            shown += f", {split} half of its documents" if split != "all" else ""
            line = (f"model {info['model']['name']} ({info['model']['fingerprint']}), corpus "
                    f"{corpus.get('name', '-')} ({shown})")
            if line not in lines:
                lines.append(line)
        return lines

    def split_lines(self) -> list[str]:
        """Which corpus split the verdicts rest on, when any claim ran on a half (`split:`): the
        outcomes counted per split, so drafted-on (explore) and confirmed verdicts are told apart."""
        by_split: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for record in self.records.values():
            split = (record.lab or {}).get("corpus", {}).get("split", "all")
            by_split[split][record.outcome] += 1
        if set(by_split) <= {"all"}:
            return []
        return [f"corpus split {split}: " + ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
                for split, outcomes in sorted(by_split.items())]

    def lab_descriptions(self) -> list[dict[str, Any]]:
        """`describe()` of every lab that has one (a lab whose model failed to load has none),
        then those recorded with claims: an xdist controller loads no lab, its workers ship them."""
        described = []
        for lab in self.labs.values():
            try:
                described.append(lab.describe())
            except Exception:  # noqa: BLE001 - a broken lab still leaves the summary printable
                continue
        for record in self.records.values():
            if record.lab and record.lab not in described:
                described.append(record.lab)
        return described

    def counts(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for record in self.records.values():
            totals[record.outcome] += 1
        return dict(totals)

    def phase_line(self) -> str:
        """Where the run's time went, phase by phase (the summary's last line)."""
        wall = time.time() - self.started
        return f"time: {self.clock.times.line(wall)} (wall {wall:,.0f} s)"

    def summary_lines(self) -> list[str]:
        counts = self.counts()
        if not counts:
            return []
        lines = ["claims: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))]
        remembered = sum(1 for r in self.records.values() if r.result is not None and r.result.cached)
        if remembered:
            lines.append(f"{remembered} claim result(s) remembered from an earlier run on the same "
                         "model, corpus and code (--neurontest-no-cache recomputes them)")
        lines += self.family_lines()
        lines += self.split_lines()
        lines += self.model_lines()
        if self.executor is not None:
            lines.append(self.executor.describe())
        if self.report_written:
            lines.append(f"report: {self.report_written}")
        elif self.report_error:
            lines.append(self.report_error)
        return lines


def _default_settings() -> RunSettings:
    from neurontest.claims.settings import RunSettings

    return RunSettings()


def python_record(item: pytest.Item) -> ClaimRecord:
    """The report card of a Python test that uses the `neuron` or `neurontest_lab` fixture."""
    path, line, _name = item.location
    return ClaimRecord(item.nodeid, "python", "", str(item.path), (line or 0) + 1,
                       claim_id=item.nodeid.split("::", 1)[-1])

