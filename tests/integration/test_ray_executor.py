"""Mining on a real local Ray cluster (two CPUs): equal to local mining, recovered after a worker
is killed, a persistently failing shard caches nothing, a different model on a worker is refused.

Skipped when Ray is not installed (`pip install -e ".[ray]"`).
"""

from __future__ import annotations

import dataclasses
import os
import signal

import pytest
import torch

from neurontest.engine.run.activation_cache import ActivationCache, mine
from neurontest.engine.run.activations import neuron_activations
from neurontest.engine.units.neuron import NeuronRef
from neurontest.engine.models.planted import planted_model
from neurontest.lab import Lab

ray = pytest.importorskip("ray")

# Under `pytest -n 2 --dist loadgroup` the Ray tests share one worker, so one local cluster runs
# at a time (two would each claim both CPUs).
pytestmark = pytest.mark.xdist_group("ray")

from neurontest.errors import ModelMismatchError  # noqa: E402
from neurontest.errors import MiningFailedError
from neurontest.engine.run.executors.ray_pool import RayExecutor  # noqa: E402

NEURONS = [NeuronRef(0, 3), NeuronRef(0, 5), NeuronRef(1, 2)]


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster for the whole session (shared with test_ray_suite.py)."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, log_to_driver=False, logging_level="WARNING")
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def planted_lab():
    return Lab.load("planted", "planted", window=16, n_tokens=None, progress=False, cache=False)


@pytest.fixture
def executor(ray_cluster):
    # Per test: a pool's two actors take both of the cluster's CPUs, so a pool left running
    # would leave the next test's actors unschedulable.
    pool = RayExecutor(actors=2)
    yield pool
    pool.close()


def test_mining_on_ray_writes_the_cache_a_local_run_writes(planted_lab, executor, tmp_path):
    batch = planted_lab.sample.batch
    key = {"model_key": planted_lab.model_key, "corpus_key": planted_lab.sample.fingerprint,
           "progress": False}
    local = mine(planted_lab.model, batch, NEURONS, cache=tmp_path / "local", **key)
    on_ray = mine(planted_lab.model, batch, NEURONS, cache=tmp_path / "ray", executor=executor, **key)

    assert executor.last_pass.shards > 2 and executor.last_pass.actors == 2
    shape = tuple(batch.tokens.shape)
    for neuron in NEURONS:
        assert torch.equal(on_ray[neuron], local[neuron]), neuron
        stores = [ActivationCache(key["model_key"], key["corpus_key"], tmp_path / name)
                  for name in ("local", "ray")]
        assert torch.equal(stores[0].load(neuron, shape), stores[1].load(neuron, shape))


def test_attention_statistics_on_ray_equal_local_ones(planted_lab, executor):
    """Actors return each shard's attention mass; a source-token probe gets its shard's rows."""
    from neurontest.claims.predicates import predicate_from_dict
    from neurontest.engine.run.attention_mass import AttentionMass
    from neurontest.engine.models.planted import MONTHS

    batch = planted_lab.sample.batch
    months = planted_lab.claimed(predicate_from_dict({"tokens": MONTHS}))
    units = [NeuronRef(0, 3), AttentionMass(1, 1, "offset-1"),
             AttentionMass(1, 1, "sources-months").with_sources(months)]
    local = neuron_activations(planted_lab.model, batch, units)
    on_ray = executor.activations(planted_lab.model, batch, units)
    assert executor.last_pass.shards > 2
    for unit in units:
        assert torch.allclose(on_ray[unit], local[unit], atol=1e-6), unit


def test_a_worker_killed_mid_run_is_restarted_and_its_shard_retried(planted_lab, ray_cluster):
    batch = planted_lab.sample.batch
    expected = neuron_activations(planted_lab.model, batch, NEURONS, batch_size=4)
    killed: list[int] = []

    def kill_first_worker(shard, stats):
        if not killed:  # after the first shard arrives, SIGKILL the process of actor 0
            pid = ray.get(pool.pool(planted_lab.model)[0].identity.remote())["pid"]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    pool = RayExecutor(actors=2, on_shard=kill_first_worker)
    try:
        got = pool.activations(planted_lab.model, batch, NEURONS, batch_size=4)
        restarted = ray.get(pool.pool(planted_lab.model)[0].identity.remote())["pid"]
    finally:
        pool.close()
    assert killed and restarted != killed[0]  # the worker really died and came back
    assert pool.last_pass.shards >= 8
    for neuron in NEURONS:
        assert torch.equal(got[neuron], expected[neuron]), neuron


def test_a_shard_that_keeps_failing_caches_nothing_and_fails_its_claims(planted_lab, executor, tmp_path):
    sample = planted_lab.sample
    broken = sample.batch.select(range(len(sample.batch)))
    broken.tokens[40, 3] = 10**6  # no such token: this row's shard raises on every attempt
    lab = Lab(planted_lab.model, planted_lab.corpus_options, cache=tmp_path, progress=False,
              sample=dataclasses.replace(sample, batch=broken, fingerprint="broken"), executor=executor,
              batch_size=8)

    with pytest.raises(MiningFailedError, match=r"shard \d+ \(corpus rows \d+-\d+\) failed 3 times"):
        lab.prepare(NEURONS)
    assert not list(tmp_path.rglob("*.pt"))  # nothing partial reached the cache
    passes = executor.last_pass
    with pytest.raises(MiningFailedError):  # remembered: the next claim does not mine again
        lab.activations(NEURONS[0])
    assert executor.last_pass is passes


def test_actors_the_cluster_cannot_place_are_a_clear_error(planted_lab, executor):
    executor.pool(planted_lab.model)  # takes both CPUs of the cluster
    crowded = RayExecutor(actors=1, start_timeout=5)
    try:
        with pytest.raises(Exception, match=r"did not start within 5 s: the cluster has"):
            crowded.pool(planted_lab.model)
    finally:
        crowded.close()


def test_a_worker_with_different_weights_is_refused(ray_cluster):
    # The driver's planted model with another seed: same name, different weights.
    other = planted_model(seed=1).model
    pool = RayExecutor(actors=1)
    try:
        with pytest.raises(ModelMismatchError, match="fingerprint .* but the driver's model has"):
            pool.pool(other)
    finally:
        pool.close()


@pytest.mark.real_model
def test_smollm2_mining_on_ray_equals_local(ray_cluster):
    lab = Lab.load(n_tokens=10_000, progress=False, cache=False)
    neurons = [NeuronRef(0, 972), NeuronRef(0, 1458), NeuronRef(2, 273)]
    expected = neuron_activations(lab.model, lab.sample.batch, neurons)
    pool = RayExecutor(actors=2)
    try:
        got = pool.activations(lab.model, lab.sample.batch, neurons)
    finally:
        pool.close()
    for neuron in neurons:
        assert torch.equal(got[neuron], expected[neuron]), neuron
