"""What one Ray actor runs: a model replica that turns shards of token ids into neuron columns.

The worker may not share the driver's filesystem, so it loads the model by name (a hub id, a
path every node sees, or an embedded name such as `smollm2-135m` or `planted`) and checks the
replica's fingerprint against the driver's before mining anything: a different checkpoint or
precision on a worker is an error, never silently different numbers. Plain Python (no Ray
import): `ray_pool` wraps the class with `ray.remote`, and tests can run it in-process.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch

from neurontest.engine.data.tokens import TokenBatch
from neurontest.engine.models.loading import DEFAULT_MODEL, load_model, model_fingerprint
from neurontest.engine.run.activations import neuron_activations

if TYPE_CHECKING:
    from neurontest.engine.units.protocol import UnitRef



@dataclass(frozen=True)
class ModelSpec:
    """How a worker loads the driver's model, and the fingerprint it must end up with."""

    name: str
    revision: str | None
    dtype: str
    device: str
    fingerprint: str

    @classmethod
    def of(cls, model: Any, device: str) -> ModelSpec:
        """The spec of a model loaded on the driver (by `neurontest.engine.models.loading.load_model`)."""
        name = str(getattr(model, "neurontest_name", None) or DEFAULT_MODEL)
        if Path(name).expanduser().is_dir():
            name = str(Path(name).expanduser().resolve())  # workers need the absolute path
        dtype = str(getattr(model.cfg, "dtype", "float32")).replace("torch.", "")
        return cls(name, getattr(model, "neurontest_revision", None), dtype, device,
                   model_fingerprint(model))


class MiningWorker:
    """One model replica; `mine` computes the requested neurons' columns for a shard."""

    def __init__(self, spec: ModelSpec, threads: int | None = 1) -> None:
        if threads:
            torch.set_num_threads(threads)  # one actor per reserved CPU: no oversubscription
        self.spec = spec
        started = time.perf_counter()
        self.model = load_model(spec.name, device=spec.device, dtype=spec.dtype,
                                revision=spec.revision)
        self.load_seconds = time.perf_counter() - started
        self.fingerprint = model_fingerprint(self.model)

    def identity(self) -> dict[str, Any]:
        """The replica's fingerprint and where it runs (the driver compares the fingerprint)."""
        import socket

        return {"fingerprint": self.fingerprint, "pid": os.getpid(),
                "host": socket.gethostname(), "load_seconds": self.load_seconds}

    def mine(self, tokens: Any, mask: Any, has_bos: bool, neurons: Sequence[UnitRef],
             batch_size: int | None) -> tuple[dict[UnitRef, Any], float]:
        """Columns `[rows, pos]` (float32 numpy) of each neuron over these token rows, and the
        seconds the forward passes took (the rest of a shard's time is Ray's overhead)."""
        if self.fingerprint != self.spec.fingerprint:
            raise RuntimeError(mismatch_message(self.spec, self.fingerprint))
        batch = TokenBatch(torch.as_tensor(tokens), torch.as_tensor(mask), has_bos)
        started = time.perf_counter()
        columns = neuron_activations(self.model, batch, neurons, batch_size=batch_size)
        seconds = time.perf_counter() - started
        return {ref: values.numpy() for ref, values in columns.items()}, seconds


def mismatch_message(spec: ModelSpec, found: str) -> str:
    """The one-line error for a worker whose replica differs from the driver's model."""
    return (f"a Ray worker loaded model {spec.name!r} (revision {spec.revision}, {spec.dtype}) "
            f"with fingerprint {found}, but the driver's model has {spec.fingerprint}: the worker "
            "sees different weights (another checkpoint, a stale local folder or hub cache). "
            "Give every node the same files, or name a hub revision with --neurontest-revision")
