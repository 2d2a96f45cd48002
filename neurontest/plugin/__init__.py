"""The pytest plugin: options, collection of YAML hypothesis files, fixtures, the report hook.

Hooks only pass work to `NeurontestSession` (session.py) and the collectors (collect.py). The
rest of the pytest layer: `assertions` (the `neuron` fixture's object), `baselines` (recorded
metrics and drift), `multimodel` (one item per model or checkpoint), `result_cache` (claim
results remembered across runs), `outcomes`.

This module is imported in every pytest run of an environment with neurontest installed, so it
imports nothing heavy: torch and models load only once a hypothesis file is collected or a
neurontest fixture is used (the imports inside hooks are there for that reason alone).

May import: `neurontest.report`, `neurontest.format` and everything below them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from neurontest.errors import ReportPathError
from neurontest.plugin.session import NeurontestSession, python_record, record_to_dict, session_key
from neurontest.report import write_run_report

if TYPE_CHECKING:
    from neurontest.claims.settings import RunSettings
    from neurontest.lab import Lab
    from neurontest.plugin.assertions import NeuronUnderTest

_OPTIONS = [
    # (flag, ini key, help, type)
    ("--neurontest-model", "neurontest_model",
     "model name, hub id or local HF folder for every hypothesis file (default: each file's "
     "`model:`, else the embedded smollm2-135m)", str),
    ("--neurontest-revision", "neurontest_revision", "hub revision/checkpoint of the model", str),
    ("--neurontest-corpus", "neurontest_corpus",
     "corpus: wiki-sample (default), lee, a .txt/.jsonl/.parquet path or a datasets hub name", str),
    ("--neurontest-corpus-tokens", "neurontest_corpus_tokens",
     "tokens sampled from the corpus (default: each file's corpus_tokens, else 100000)", int),
    ("--neurontest-split", "neurontest_split",
     "which half of the corpus documents to test on: all, explore or confirm (default: each "
     "file's `split:`, else all)", str),
    ("--neurontest-device", "neurontest_device",
     "torch device: cpu (default), cuda, cuda:N, or a model split over several GPUs: "
     "cuda:0,cuda:1 or auto (docs/scaling.md)", str),
    ("--neurontest-batch-size", "neurontest_batch_size",
     "rows per forward pass when mining (default: automatic, 32 on cpu, sized to free memory "
     "on cuda and halved on out-of-memory)", int),
    ("--neurontest-report", "neurontest_report",
     "write the HTML report here, or into this folder if it ends in / (default: "
     "reports/neurontest.html for whole folders, reports/neurontest-<selection>.html for files, "
     "node ids, -k or -m; 'none' to skip)", str),
    ("--neurontest-executor", "neurontest_executor",
     "who mines activations: local (default, this process) or ray (a pool of Ray actors, one "
     "model replica each; pip install 'neurontest[ray]', docs/scaling.md)", str),
    ("--neurontest-ray-address", "neurontest_ray_address",
     "Ray cluster to join with --neurontest-executor ray (default: RAY_ADDRESS, else a local "
     "cluster on this machine)", str),
    ("--neurontest-hypothesis-profile", "neurontest_hypothesis_profile",
     "perturbation claims: 'default' (random examples, failures saved in "
     "<rootdir>/.hypothesis/neurontest and replayed) or 'ci' (derandomize=True, no database)", str),
    ("--neurontest-max-examples", "neurontest_max_examples",
     "perturbed texts per perturbation claim (default 50; a claim's `examples:` overrides it)", int),
    ("--neurontest-min-positions", "neurontest_min_positions",
     "a bounded metric resting on fewer positions of its own side (firing ones for precision, "
     "claimed ones for recall) is decided only by an interval wholly on one side of its bound, "
     "else inconclusive (default 20; a claim's `min_positions:` overrides it)", int),
    ("--neurontest-error-control", "neurontest_error_control",
     "adjust the claims' one-sided p-values for running many claims at once: none (default), "
     "holm (family-wise error) or bh (Benjamini-Hochberg false discovery rate); a claim then "
     "passes only with its adjusted p-value below --neurontest-alpha", str),
    ("--neurontest-alpha", "neurontest_alpha",
     "the error rate --neurontest-error-control holds the run to (default 0.05)", float),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register neurontest's options (https://docs.pytest.org/en/stable/reference/reference.html#pytest.hookspec.pytest_addoption)."""
    group = parser.getgroup("neurontest", "neuron hypothesis testing")
    for flag, ini, help_text, _type in _OPTIONS:
        group.addoption(flag, dest=ini, default=None, help=help_text)
        parser.addini(ini, help_text, default=None)
    group.addoption("--neurontest-no-cache", dest="neurontest_no_cache", action="store_true",
                    default=False, help="recompute activations and claim results instead of using (or "
                    "writing) the on-disk caches")
    # Checkpoints and baselines (plugin/multimodel.py, plugin/baselines.py, measure/matching.py).
    for flag, ini, help_text in _FLAGS:
        group.addoption(flag, dest=ini, action="store_true", default=False, help=help_text)
        parser.addini(ini, help_text, type="bool", default=False)
    also_help = ("also test every hypothesis file on this model or checkpoint (repeatable); "
                 "each claim becomes one item per model")
    group.addoption("--neurontest-also-model", dest="neurontest_also_models", action="append",
                    default=[], metavar="MODEL", help=also_help)
    parser.addini("neurontest_also_models", also_help, type="linelist", default=[])


_FLAGS = [
    ("--neurontest-update-baselines", "neurontest_update_baselines",
     "record the metrics of every claim that behaves as its file says (passed, or refuted as "
     "an xfail) as baselines (hypotheses/baselines/<file>.<model>.json) instead of comparing"),
    ("--neurontest-update-baselines-all", "neurontest_update_baselines_all",
     "like --neurontest-update-baselines, but also record failing and inconclusive claims"),
    ("--neurontest-require-baselines", "neurontest_require_baselines",
     "fail claims that have no baseline (default: list them in the summary)"),
    ("--neurontest-match-neurons", "neurontest_match_neurons",
     "on every model but the first, test each claim on the neuron best correlated with the "
     "claimed one (same layer) instead of the same index"),
]


def _flag(config: pytest.Config, ini: str) -> bool:
    return bool(config.getoption(ini) or config.getini(ini))


def _option(config: pytest.Config, ini: str, kind: type) -> Any:
    value = config.getoption(ini)
    if value is None:
        value = config.getini(ini)
    if value in (None, ""):
        return None
    return kind(value)


def pytest_configure(config: pytest.Config) -> None:
    """Create the session state (https://docs.pytest.org/en/stable/reference/reference.html#pytest.hookspec.pytest_configure)."""
    values = {ini: _option(config, ini, kind) for _flag, ini, _help, kind in _OPTIONS}
    if values["neurontest_split"] not in (None, "all", "explore", "confirm"):
        raise pytest.UsageError(f"--neurontest-split {values['neurontest_split']!r}: use all, "
                                "explore or confirm")
    if values["neurontest_batch_size"] is not None and values["neurontest_batch_size"] < 1:
        raise pytest.UsageError("--neurontest-batch-size must be at least 1; leave it out to let "
                                "neurontest size batches to the device")
    executor = _checked_executor(values)
    from neurontest.engine.models.placement import parse_placement

    try:
        parse_placement(values["neurontest_device"])
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    report_path = _report_path(config, values["neurontest_report"])
    state = config.stash[session_key] = NeurontestSession(
        model=values["neurontest_model"],
        revision=values["neurontest_revision"],
        corpus=values["neurontest_corpus"],
        corpus_tokens=values["neurontest_corpus_tokens"],
        split=values["neurontest_split"],
        device=values["neurontest_device"] or "cpu",
        batch_size=values["neurontest_batch_size"],
        cache=not config.getoption("neurontest_no_cache"),
        report_path=None if report_path is None else str(report_path),
        settings=_run_settings(config, values),
    )
    from neurontest.plugin.baselines import BaselineStore
    from neurontest.plugin.result_cache import ResultCache

    state.results = ResultCache() if state.cache else None
    state.executor_name, state.ray_address = executor, values["neurontest_ray_address"]

    state.also_models = list(config.getoption("neurontest_also_models")
                             or config.getini("neurontest_also_models"))
    state.match_neurons = _flag(config, "neurontest_match_neurons")
    update = ("all" if _flag(config, "neurontest_update_baselines_all")
              else "passing" if _flag(config, "neurontest_update_baselines") else "")
    state.baselines = BaselineStore(update=update,
                                    require=_flag(config, "neurontest_require_baselines"),
                                    root=Path(config.rootpath),
                                    worker=hasattr(config, "workerinput"))
    # The session object receives the report hooks itself (as pytest's junitxml does), so a run
    # nested in this process (pytester) has its own and needs no module-level handle.
    config.pluginmanager.register(state, _SESSION_PLUGIN)


_SESSION_PLUGIN = "neurontest-session"


def _run_settings(config: pytest.Config, values: dict[str, Any]) -> RunSettings:
    """The run-wide claim settings from the options and ini keys; a bad value is a usage error."""
    from neurontest.claims.settings import RunSettings

    control = (values["neurontest_error_control"] or "none").strip().lower()
    if control != "none" and (getattr(config.option, "numprocesses", None)
                              or hasattr(config, "workerinput")):
        raise pytest.UsageError("--neurontest-error-control adjusts every claim of the run together, "
                                "so it needs one process: drop -n (pytest-xdist)")

    try:
        return RunSettings.from_options(
            min_positions=values["neurontest_min_positions"],
            error_control=values["neurontest_error_control"], alpha=values["neurontest_alpha"],
            hypothesis_profile=values["neurontest_hypothesis_profile"],
            max_examples=values["neurontest_max_examples"], rootdir=config.rootpath)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _report_path(config: pytest.Config, option: str | None) -> Path | None:
    """The report file of this run (report/location.py): the path asked for, else one per
    selection; a folder or a path under a file is a usage error before any model work."""
    from neurontest.report.location import check_report_path, resolve_report_path, selection_name

    name = selection_name(config.args, Path(config.rootpath), keyword=config.option.keyword or "",
                          markexpr=config.option.markexpr or "")
    path = resolve_report_path(option, Path(config.rootpath), name)
    if path is not None:
        try:
            check_report_path(path, option)
        except ReportPathError as exc:
            raise pytest.UsageError(str(exc)) from None
    return path


def _checked_executor(values: dict[str, Any]) -> str:
    """The executor's name, or a usage error naming the fix (Ray is not imported here)."""
    import importlib.util

    name = (values["neurontest_executor"] or "local").strip().lower()
    if name not in ("local", "ray"):
        raise pytest.UsageError(f"--neurontest-executor {name!r} is unknown: use local or ray")
    if name == "local" and values["neurontest_ray_address"]:
        raise pytest.UsageError("--neurontest-ray-address needs --neurontest-executor ray")
    if name == "ray" and importlib.util.find_spec("ray") is None:
        raise pytest.UsageError("--neurontest-executor ray needs Ray: pip install 'neurontest[ray]'")
    return name


def pytest_unconfigure(config: pytest.Config) -> None:
    """Release what the session holds (pytester runs nest in one process)."""
    state = config.stash.get(session_key, None)
    if state is not None:
        state.close()
        if config.pluginmanager.is_registered(state):
            config.pluginmanager.unregister(state)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    """Collect `test_*.yaml` / `test_*.yml` hypothesis files (https://docs.pytest.org/en/stable/example/nonpython.html)."""
    if file_path.suffix in (".yaml", ".yml") and file_path.name.startswith("test_"):
        from neurontest.plugin.collect import HypothesisYamlFile

        return HypothesisYamlFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: deselected claims are neither mined nor reported
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Plan one mining pass per (model, corpus) for all selected claims (https://docs.pytest.org/en/stable/reference/reference.html#pytest.hookspec.pytest_collection_modifyitems)."""
    state = config.stash[session_key]
    for item in items:
        claim = getattr(item, "claim", None)
        if claim is not None and hasattr(item, "lab_key"):
            if getattr(item, "match_from", None) is None:  # a matched neuron is mined once found
                state.plan(item.lab_key, claim.neurons_to_mine())
            state.register(item.record())
        elif _PYTHON_FIXTURES & set(getattr(item, "fixturenames", ())):
            # A Python claim (`neuron` / `neurontest_lab` fixture): one card per test, so the
            # report counts what pytest counts; its claims' evidence arrives as they run.
            state.register(python_record(item))


def pytest_itemcollected(item: pytest.Item) -> None:
    """Note each claim before -k/-m deselection, so deselected claims never count as unused
    baseline entries (https://docs.pytest.org/en/stable/reference/reference.html#pytest.hookspec.pytest_itemcollected)."""
    state = item.config.stash.get(session_key, None)
    if state is not None and state.baselines is not None:
        state.baselines.collected(item)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """A malformed hypothesis file is an error for that file alone: the other claims still run
    (the run still exits non-zero). Other collection errors keep pytest's usual abort."""
    state = session.config.stash[session_key]
    if state.collection_errors and all(state.collection_errors.values()):
        session.config.option.continue_on_collection_errors = True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """Attach each claim's heatmaps to its pytest-html row, when that plugin is active (https://docs.pytest.org/en/stable/reference/reference.html#pytest.hookspec.pytest_runtest_makereport)."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call":
        return
    if getattr(item, "drift_only", False):  # its own outcome in the summary: `drifted`
        report.user_properties.append(("neurontest_drift_only", True))
    state = item.config.stash.get(session_key, None)
    if state is not None and state.clock is not None and hasattr(item.config, "workerinput"):
        # The controller's phase line sums what each worker spent since its last report.
        report.user_properties.append(("neurontest_phases", state.clock.take().to_dict()))
    record = state.records.get(item.nodeid) if state is not None else None
    if record is None:
        return
    if hasattr(item.config, "workerinput"):
        # Under pytest-xdist the controller writes the report and prints the summary: ship it
        # this claim's evidence and what its baseline check did.
        report.user_properties.append(("neurontest", record_to_dict(record)))
        event = state.baselines.events.get(item.nodeid) if state.baselines is not None else None
        if event is not None:
            report.user_properties.append(("neurontest_baseline", event))
    if not item.config.pluginmanager.hasplugin("html"):
        return
    from neurontest.report.pytest_html import extras_for

    extras = extras_for(record)
    if extras:
        report.extras = [*getattr(report, "extras", []), *extras]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Time the run's phases, and send live progress of conversion, corpus preparation, SAE
    fits, mining and perturbation searches to the terminal reporter (plugin/progress.py),
    which exists from here on."""
    from neurontest.engine.progress import PhaseClock
    from neurontest.plugin.progress import terminal_progress

    state = session.config.stash[session_key]
    state.clock = PhaseClock(terminal_progress(session.config))
    state.settings = dataclasses.replace(state.settings, progress=state.clock)


@pytest.hookimpl(hookwrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[None]:
    """Collection converts and loads models: their progress goes to the run's sink."""
    with _reporting(session.config):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Mining and perturbation searches run inside tests: their progress goes to the run's sink."""
    with _reporting(item.config):
        yield


def _reporting(config: pytest.Config) -> Any:
    from contextlib import nullcontext

    state = config.stash.get(session_key, None)
    sink = state.settings.progress if state is not None else None
    if sink is None:
        return nullcontext()
    from neurontest.engine.progress import reporting

    return reporting(sink)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the HTML report, also after interrupted runs (https://docs.pytest.org/en/stable/reference/reference.html#pytest.hookspec.pytest_sessionfinish)."""
    state = session.config.stash.get(session_key, None)
    if state is not None:
        state.remember_labs()
    if state is not None and state.baselines is not None:
        # Baselines are flushed once, here; an interrupted run (exit 2) writes none.
        failed = state.baselines.finish(interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if state is None or not state.records or not state.report_path or session.config.option.collectonly:
        return
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller writes the one report from what workers ship
    from neurontest.report.location import write_failure

    try:
        state.report_written = str(write_run_report(state, Path(state.report_path)))
    except OSError as exc:  # read-only folder, full disk: one line in the summary, no traceback
        state.report_error = write_failure(Path(state.report_path), exc)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the claims summary (https://docs.pytest.org/en/stable/reference/reference.html#pytest.hookspec.pytest_terminal_summary)."""
    state = config.stash.get(session_key, None)
    lines = state.summary_lines() if state is not None else []
    if state is not None:
        from neurontest.plugin.multimodel import match_summary_lines

        lines += match_summary_lines(state)
        lines += state.baselines.summary_lines() if state.baselines is not None else []
        if lines and state.clock is not None:
            lines.append(state.phase_line())
    if lines:
        terminalreporter.section("neurontest")
        for line in lines:
            terminalreporter.write_line(line)


_PYTHON_FIXTURES = {"unit", "neuron", "neurontest_lab"}


@pytest.fixture(scope="session")
def neurontest_lab(request: pytest.FixtureRequest) -> Lab:
    """The session's `Lab`: the model and corpus chosen by --neurontest-model/--neurontest-corpus
    (default: the embedded SmolLM2 and Wikipedia sample), loaded once and shared with YAML files.

    Use it for claims YAML cannot express::

        def test_my_neuron(neurontest_lab):
            acts = neurontest_lab.activations(NeuronRef(3, 12))
    """
    state = request.config.stash[session_key]
    key = state.lab_key(None, None, None, 100_000, 64, 0)
    return state.lab(key)


@pytest.fixture
def unit(neurontest_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory for assertions on one unit of the session's model, in any form YAML accepts
    (`"L1N298"`, `"L16H0"`, `"<sae>#<latent>"`, `{"sae": ..., "latent": 12}`,
    `{"direction": "v.pt", "hook": "blocks.3.hook_resid_post"}`)::

        def test_months(unit):
            n = unit("L1N298", fires_on={"tokens": ["March", "April"]}, threshold=1.0)
            metrics = n.assert_fires_on(f1=">= 0.7")          # returns the measured metrics
            n.assert_examples(fires=["We met in [[March]]"], silent=["We met in the park"])

    Every `assert_*` method runs the same claim as the YAML kind of that name, through the
    session's claim runner (results remembered, the run's settings), raises an AssertionError
    with the measured evidence when it fails, and returns the `ClaimResult`.
    """
    from neurontest.plugin.assertions import NeuronUnderTest

    state = request.config.stash[session_key]
    record = state.records.get(request.node.nodeid)

    def noted(result: Any) -> None:
        # The test's card in the HTML report gets every claim it makes, with the same evidence
        # as a YAML claim (a claim made outside the collected test has no card).
        if record is not None:
            record.add_result(result)
            record.lab = neurontest_lab.describe()
            record.neuron = ", ".join(dict.fromkeys(
                r.neuron.short_id for r in (record.result, *record.more_results) if r is not None))

    runner = state.runner(state.lab_key(None, None, None, 100_000, 64, 0))

    def make(unit_id: Any, **subject: Any) -> NeuronUnderTest:
        return NeuronUnderTest.create(runner, unit_id, on_result=noted, **subject)

    yield make


@pytest.fixture
def neuron(unit: Any) -> Any:
    """The `unit` fixture under its first name (any unit form works here too)."""
    return unit
