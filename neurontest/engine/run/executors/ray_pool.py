"""Mining on a pool of Ray actors, each holding one model replica (`--neurontest-executor ray`).

The driver keeps the corpus and the cache. Per shard it sends token ids and the pad mask
(int64 + bool per position) and gets back only the requested neurons' columns (float32 per
position per neuron); it assembles them in row order and hands the whole result to
`activation_cache.mine`, which writes the cache as for a local run.

Faults: actors are created with `max_restarts` and `max_task_retries`, so a worker process that
dies mid-shard is restarted by Ray (reloading and re-checking its model) and the shard rerun. A
shard whose task raises is retried on the next actor up to `shard_attempts` times; one that
keeps failing makes the whole pass raise `MiningFailedError` (naming the shard and the cause),
and nothing of the pass reaches the cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch

from neurontest.engine.models.placement import parse_placement
from neurontest.engine.progress import ProgressTask
from neurontest.engine.run.activations import checked_request
from neurontest.engine.run.batching import CPU_BATCH_SIZE
from neurontest.engine.run.executors.shards import (
    SHARDS_PER_WORKER,
    Shard,
    assemble,
    max_shard_rows,
    plan_shards,
)
from neurontest.engine.run.executors.worker import MiningWorker, ModelSpec, mismatch_message
from neurontest.errors import MiningFailedError, ModelMismatchError, ModelUnavailableError, NeurontestError

if TYPE_CHECKING:
    from neurontest.engine.data.tokens import TokenBatch
    from neurontest.engine.units.protocol import UnitRef

# Rows per shard granule when workers size their own batches (GPUs): big enough that a round
# trip is small next to the forward passes.
GPU_SHARD_GRANULE = 256


@dataclass
class PassStats:
    """What one mining pass on the pool cost: for `neurontest bench` and the cost model."""

    shards: int = 0
    actors: int = 0
    rows: int = 0
    tokens: int = 0
    wall_seconds: float = 0.0
    worker_seconds: float = 0.0  # forward passes inside the workers, summed over shards
    bytes_in: int = 0  # token ids and masks sent to workers
    bytes_out: int = 0  # columns returned
    retries: int = 0
    shard_seconds: list[float] = field(default_factory=list)

    @property
    def overhead_per_shard(self) -> float:
        """Seconds per shard an actor spent outside forward passes (transfer, scheduling,
        serialisation): the pool's actor-time minus the workers' compute, per shard."""
        if not self.shards:
            return 0.0
        return max(0.0, self.wall_seconds * self.actors - self.worker_seconds) / self.shards


class RayExecutor:
    """Shards mining passes over a pool of Ray actors; see the module docstring."""

    name = "ray"

    def __init__(self, address: str | None = None, *, device: str = "cpu", actors: int | None = None,
                 threads: int = 1, shard_attempts: int = 3, max_restarts: int = 3,
                 per_worker: int = SHARDS_PER_WORKER,
                 on_shard: Callable[[Shard, PassStats], None] | None = None,
                 start_timeout: float = 600.0) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise NeurontestError("--neurontest-executor ray needs Ray: pip install "
                                  "'neurontest[ray]' (or pip install ray)") from None
        if actors is not None and actors < 1:
            raise ValueError(f"a Ray pool needs at least one actor, got {actors}")
        self.address = address
        self.placement = parse_placement(device)
        self.replica = self.placement.for_replica()  # also rejects `auto`, which cannot size an actor
        self.n_actors = actors
        self.threads = threads
        self.shard_attempts = shard_attempts
        self.max_restarts = max_restarts
        self.per_worker = per_worker
        self.on_shard = on_shard  # called on the driver after each shard's columns arrive
        self.start_timeout = start_timeout  # actors the cluster cannot place would wait forever
        self.last_pass: PassStats | None = None
        self.passes: list[PassStats] = []
        self.models: list[str] = []  # names of the models the pool has held, in turn
        self._spec: ModelSpec | None = None
        self._actors: list[Any] = []
        self._owns_ray = False

    # -- the pool ---------------------------------------------------------------------------
    def connect(self) -> None:
        """Join the cluster at `address` (or `RAY_ADDRESS`, or start a local one), once."""
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False, logging_level="WARNING")
            self._owns_ray = True

    def pool(self, model: Any) -> list[Any]:
        """Actors holding replicas of `model`, started (and fingerprint-checked) on first use.
        A different model replaces the pool: the models of a checkpoint matrix take turns on
        the whole cluster rather than splitting it."""
        spec = ModelSpec.of(model, self.replica.spec)
        if spec == self._spec and self._actors:
            return self._actors
        self.release()
        self.connect()
        import ray

        n_actors = self.n_actors or self._default_actors()
        worker = ray.remote(MiningWorker).options(
            num_cpus=self.threads, num_gpus=self.placement.gpus_per_replica(),
            max_restarts=self.max_restarts, max_task_retries=self.max_restarts)
        actors = [worker.remote(spec, self.threads) for _ in range(n_actors)]
        try:
            identities = ray.get([actor.identity.remote() for actor in actors],
                                 timeout=self.start_timeout)
        except ray.exceptions.GetTimeoutError:
            _kill(actors)
            raise NeurontestError(
                f"{n_actors} Ray actor(s) ({self.threads} CPU, {self.placement.gpus_per_replica()} "
                f"GPU each) did not start within {self.start_timeout:g} s: the cluster has "
                f"{ray.available_resources()} free; free resources or ask for fewer actors") from None
        except ray.exceptions.RayError as exc:
            _kill(actors)
            raise ModelUnavailableError(f"a Ray worker could not load model {spec.name!r}: "
                                        f"{_cause(exc)}") from None
        for identity in identities:
            if identity["fingerprint"] != spec.fingerprint:
                _kill(actors)
                raise ModelMismatchError(mismatch_message(spec, identity["fingerprint"]))
        self._spec, self._actors = spec, actors
        self.models.append(spec.name)
        return actors

    def _default_actors(self) -> int:
        import ray

        resources = ray.cluster_resources()
        gpus = self.placement.gpus_per_replica()
        if gpus:
            fit = int(resources.get("GPU", 0) // gpus)
            if fit < 1:
                raise NeurontestError(f"--neurontest-device {self.placement.spec} asks for {gpus} "
                                      "GPU(s) per Ray actor, but the cluster has "
                                      f"{resources.get('GPU', 0):g}: use --neurontest-device cpu")
            return fit
        return max(1, int(resources.get("CPU", 1) // self.threads))

    def describe(self) -> str:
        """One line for the run's summary: what the pool mined."""
        shards = sum(p.shards for p in self.passes)
        retried = sum(p.retries for p in self.passes)
        models = ", ".join(dict.fromkeys(self.models)) or "none"
        return (f"mined on Ray: {len(self.passes)} pass(es), {shards} shard(s), {retried} retried; "
                f"models {models}")

    def release(self) -> None:
        """Stop the current pool's actors (the connection stays)."""
        _kill(self._actors)
        self._actors, self._spec = [], None

    def close(self) -> None:
        """Stop the actors, and the local cluster if this executor started it."""
        self.release()
        if self._owns_ray:
            import ray

            ray.shutdown()
            self._owns_ray = False

    # -- mining -----------------------------------------------------------------------------
    def activations(self, model: Any, batch: TokenBatch, neurons: Sequence[UnitRef], *,
                    batch_size: int | None = None,
                    progress: bool | str = False) -> dict[UnitRef, torch.Tensor]:
        """Every neuron's `[rows, pos]` activations, computed shard by shard on the pool."""
        neurons = checked_request(model, neurons, batch_size)
        if not neurons:
            return {}
        if batch_size is None and not self.placement.uses_cuda:
            batch_size = CPU_BATCH_SIZE  # what a local CPU run uses, so shards align with its batches
        actors = self.pool(model)
        granule = batch_size or GPU_SHARD_GRANULE
        width = int(batch.tokens.shape[1])
        shards = plan_shards(len(batch), granule, len(actors), per_worker=self.per_worker,
                             max_rows=max_shard_rows(width, len(neurons)))
        stats = PassStats(shards=len(shards), actors=len(actors), rows=len(batch),
                          tokens=int(batch.tokens.numel()))
        started = time.perf_counter()
        columns = self._run_shards(actors, batch, shards, neurons, batch_size, stats, progress)
        stats.wall_seconds = time.perf_counter() - started
        self.last_pass = stats
        self.passes.append(stats)
        arrays = {index: {ref: torch.from_numpy(values.copy()) for ref, values in cols.items()}
                  for index, cols in columns.items()}
        return assemble(shards, arrays, neurons, width)

    def _run_shards(self, actors: list[Any], batch: TokenBatch, shards: list[Shard],
                    neurons: list[UnitRef], batch_size: int | None, stats: PassStats,
                    progress: bool | str) -> dict[int, dict[UnitRef, Any]]:
        import ray

        tokens, mask = batch.tokens.numpy(), batch.mask.numpy()
        attempts: dict[int, int] = {}
        pending: dict[Any, tuple[Shard, float]] = {}

        def submit(shard: Shard) -> None:
            attempt = attempts.get(shard.index, 0)
            attempts[shard.index] = attempt + 1
            actor = actors[(shard.index + attempt) % len(actors)]  # a retry goes to the next actor
            rows = slice(shard.start, shard.stop)
            stats.bytes_in += tokens[rows].nbytes + mask[rows].nbytes
            # Units that read a corpus mask (attention probes on source tokens) take its rows.
            units = [u.for_rows(rows) if hasattr(u, "for_rows") else u for u in neurons]
            ref = actor.mine.remote(tokens[rows], mask[rows], batch.has_bos, units, batch_size)
            pending[ref] = (shard, time.perf_counter())

        for shard in shards:
            submit(shard)
        bar = _progress(len(batch), progress)  # a ProgressTask (engine/progress.py) or None
        done: dict[int, dict[UnitRef, Any]] = {}
        failed: dict[Shard, str] = {}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                shard, submitted = pending.pop(ready[0])
                try:
                    cols, seconds = ray.get(ready[0])
                except ray.exceptions.RayError as exc:
                    if attempts[shard.index] < self.shard_attempts:
                        stats.retries += 1
                        submit(shard)
                    else:
                        failed[shard] = _cause(exc)
                    continue
                done[shard.index] = cols
                stats.worker_seconds += seconds
                stats.shard_seconds.append(time.perf_counter() - submitted)
                stats.bytes_out += sum(values.nbytes for values in cols.values())
                if bar is not None:
                    bar.advance(shard.rows)
                if self.on_shard is not None:
                    self.on_shard(shard, stats)
        finally:
            if bar is not None:
                bar.finish("failed" if failed else "")
        if failed:
            shard, cause = min(failed.items(), key=lambda item: item[0].index)
            ids = ", ".join(n.short_id for n in neurons)
            raise MiningFailedError(
                f"mining {ids} on the Ray pool failed: {shard} failed {self.shard_attempts} times "
                f"({len(failed)} of {len(shards)} shard(s) failed), last with {cause}; nothing "
                "of this pass was cached. Check the workers (Ray logs under "
                "/tmp/ray/session_latest/logs) or run with --neurontest-executor local")
        return done


def _kill(actors: list[Any]) -> None:
    if not actors:
        return
    import ray

    for actor in actors:
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 - an actor already gone needs no killing
            pass


def _cause(exc: BaseException) -> str:
    """The original error of a Ray failure, in one line."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and not isinstance(cause, type(exc)):
        exc = cause
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    # Ray's own messages start with a header and end with the error; user errors are one line.
    text = lines[-1].strip() if lines else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _progress(total_rows: int, progress: bool | str) -> Any:
    if not progress:
        return None

    desc = progress if isinstance(progress, str) else "mining"
    return ProgressTask(f"{desc} on Ray", total=total_rows, unit="rows", bar=True, phase="mining")
