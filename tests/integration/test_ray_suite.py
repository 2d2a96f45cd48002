"""Whole pytest runs under `--neurontest-executor ray` on a real local Ray cluster: a checkpoint
matrix mines every model on the pool, and the example suite gives the verdicts and baselines a
local run gives. Skipped when Ray is not installed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .planted_yaml import MONTH_NEURON, PLANTED_CORPUS

ray = pytest.importorskip("ray")

# Under `pytest -n 2 --dist loadgroup` the Ray tests share one worker, so one local cluster runs
# at a time (two would each claim both CPUs).
pytestmark = pytest.mark.xdist_group("ray")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_cluster():
    """The local cluster (started here unless test_ray_executor.py's session fixture did)."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, log_to_driver=False, logging_level="WARNING")
    yield ray
    if started:
        ray.shutdown()


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none",
                              "--neurontest-no-cache", "-rA", *args)


def verdicts(result: pytest.RunResult) -> dict[str, str]:
    """nodeid -> PASSED / FAILED / XFAIL / ... from the -rA short summary."""
    found = {}
    for line in result.outlines:
        match = re.match(r"^(PASSED|FAILED|XFAIL|XPASS|ERROR|SKIPPED) (\S+)", line)
        if match:
            found[match[2]] = match[1]
    return found


def test_a_checkpoint_matrix_mines_each_model_on_the_pool(pytester, ray_cluster, tmp_path):
    from neurontest.engine.models.planted import MONTH_NEURON as L0N3, permute_layer_neurons
    from neurontest.engine.models.planted import planted_hf_model, save_planted_folder

    moved = planted_hf_model()
    perm = list(range(32))
    perm[L0N3.index], perm[20] = 20, L0N3.index
    permute_layer_neurons(moved, 0, perm)
    folder = save_planted_folder(tmp_path / "permuted", moved)
    pytester.makefile(".yaml", test_months="model: planted\n" + PLANTED_CORPUS + "neurons:\n"
                      + MONTH_NEURON + '      - kind: activation\n        f1: ">= 0.99"\n')

    local = run(pytester, "--neurontest-also-model", str(folder))
    on_ray = run(pytester, "--neurontest-also-model", str(folder), "--neurontest-executor", "ray")

    # The month neuron moved away on the permuted checkpoint: its claim fails there, either way.
    assert verdicts(on_ray) == verdicts(local) == {
        "test_months.yaml::L0N3::activation[planted]": "PASSED",
        "test_months.yaml::L0N3::activation[permuted]": "FAILED"}
    on_ray.stdout.fnmatch_lines([f"mined on Ray: 2 pass(es), * shard(s), 0 retried; models planted, "
                                 f"{folder.resolve()}"])


@pytest.mark.real_model
def test_the_example_suite_gives_the_same_verdicts_and_baselines_under_ray(pytester, ray_cluster):
    """The whole example suite (hypotheses/) on SmolLM2, locally and on the pool, each recording
    its baselines: same outcome for every claim, byte-identical baseline files. On a fifth of the
    corpus (the comparison needs every claim kind, not every verdict as on the full corpus: some
    claims are inconclusive there), so that two cold runs of the suite fit in the test budget."""
    runs = {}
    for executor in ("local", "ray"):
        folder = pytester.path / executor
        shutil.copytree(REPO / "hypotheses", folder / "hypotheses")
        result = run(pytester, str(folder / "hypotheses"), "--neurontest-executor", executor,
                     "--neurontest-update-baselines-all", "--neurontest-hypothesis-profile", "ci",
                     "--neurontest-corpus-tokens", "20000")
        assert result.ret in (0, 1), result.stdout.str()[-3000:]
        runs[executor] = (result, folder / "hypotheses" / "baselines")

    # Node ids start with each copy's folder (local/..., ray/...): compare the rest.
    local, on_ray = ({node.split("/", 1)[1]: verdict for node, verdict in verdicts(runs[name][0]).items()}
                     for name in ("local", "ray"))
    assert len(local) > 40 and "ERROR" not in local.values()
    assert "PASSED" in local.values() and "XFAIL" in local.values()
    assert on_ray == local
    runs["ray"][0].stdout.fnmatch_lines(["mined on Ray: * pass(es), * shard(s), 0 retried; "
                                         "models smollm2-135m"])
    baselines = sorted(p.name for p in runs["local"][1].glob("*.json"))
    assert baselines == sorted(p.name for p in runs["ray"][1].glob("*.json")) and baselines
    for name in baselines:
        assert (runs["ray"][1] / name).read_text() == (runs["local"][1] / name).read_text(), name
