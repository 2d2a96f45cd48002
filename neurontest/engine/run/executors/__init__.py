"""Who computes a mining pass: this process (`local`, the default) or a pool of Ray actors (`ray`).

Either way the caller (`activation_cache.mine`) gets every requested neuron's full `[rows, pos]`
activations back, or an exception and nothing else, and writes the on-disk cache itself: an
executor never writes files, so a pass that fails half-way leaves nothing partial behind.

`shards` cuts a pass into runs of whole batches and assembles the answers; `worker` is what one
Ray actor runs (load the model by name, check its fingerprint, mine token ids into columns);
`ray_pool` is the driver side. Ray is imported only when a `ray` executor is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Sequence

from neurontest.engine.run.activations import neuron_activations
from neurontest.engine.run.executors.ray_pool import RayExecutor

if TYPE_CHECKING:
    import torch

    from neurontest.engine.data.tokens import TokenBatch
    from neurontest.engine.units.protocol import UnitRef

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Computes neuron activations for a mining pass."""

    name: str

    def activations(self, model: Any, batch: TokenBatch, neurons: Sequence[UnitRef], *,
                    batch_size: int | None = None,
                    progress: bool | str = False) -> dict[UnitRef, torch.Tensor]:
        """`[rows, pos]` float32 CPU activations of each neuron over every row of `batch`."""
        ...

    def describe(self) -> str:
        """One line for the run's summary."""
        ...

    def close(self) -> None:
        """Release whatever the executor holds (workers, connections)."""
        ...


class LocalExecutor:
    """Mining in this process, on the model as loaded (the default)."""

    name = "local"

    def activations(self, model: Any, batch: TokenBatch, neurons: Sequence[UnitRef], *,
                    batch_size: int | None = None,
                    progress: bool | str = False) -> dict[UnitRef, torch.Tensor]:
        return neuron_activations(model, batch, neurons, batch_size=batch_size, progress=progress)

    def describe(self) -> str:
        return "mined in this process"

    def close(self) -> None:
        return None


def make_executor(name: str | None, *, address: str | None = None, device: str = "cpu",
                  **options: Any) -> Executor:
    """The executor `--neurontest-executor` names; ValueError for an unknown name, and a
    one-line fix when `ray` is asked for but not installed."""
    name = (name or "local").strip().lower()
    if name == "local":
        if address:
            raise ValueError("--neurontest-ray-address needs --neurontest-executor ray")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address, device=device, **options)
    raise ValueError(f"--neurontest-executor {name!r} is unknown: use one of {', '.join(EXECUTORS)}")
