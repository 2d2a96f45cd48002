"""On-disk cache of mined activations, so a warm re-run does no model pass.

One file per (model fingerprint, corpus fingerprint, neuron). Writes go to a temp file and are
renamed into place (atomic on POSIX, so concurrent pytest-xdist workers never see half a file).
Each file carries a checksum of its values; an entry that fails to load or to verify is
recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from neurontest.engine.activations import neuron_activations
from neurontest.engine.neuron import NeuronRef
from neurontest.engine.paths import cache_root

if TYPE_CHECKING:
    import torch

    from neurontest.engine.executors import Executor
    from neurontest.engine.tokens import TokenBatch

_FORMAT = 1


class ActivationCache:
    """Activations of single neurons over one tokenized corpus, for one model."""

    def __init__(self, model_key: str, corpus_key: str, root: Path | None = None) -> None:
        self.folder = (root or cache_root() / "activations") / model_key / corpus_key
        self.hits = 0
        self.misses = 0

    def path(self, neuron: NeuronRef) -> Path:
        return self.folder / f"{neuron.short_id}.pt"

    def load(self, neuron: NeuronRef, shape: tuple[int, ...]) -> torch.Tensor | None:
        """The cached activations of `neuron`, or None if absent, unreadable or corrupt."""
        import torch

        path = self.path(neuron)
        if not path.exists():
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            values = entry["values"]
            ok = (
                entry.get("format") == _FORMAT
                and tuple(values.shape) == tuple(shape)
                and entry.get("checksum") == _checksum(values)
            )
        except Exception:  # noqa: BLE001 - any unreadable entry is simply recomputed
            ok = False
        if not ok:
            path.unlink(missing_ok=True)
            return None
        return values

    def store(self, neuron: NeuronRef, values: torch.Tensor) -> None:
        import torch

        self.folder.mkdir(parents=True, exist_ok=True)
        values = values.contiguous()
        entry = {"format": _FORMAT, "values": values, "checksum": _checksum(values)}
        fd, tmp = tempfile.mkstemp(prefix=f".{neuron.short_id}.", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(entry, handle)
            os.replace(tmp, self.path(neuron))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def mine(
    model: Any,
    batch: TokenBatch,
    neurons: Sequence[NeuronRef],
    *,
    model_key: str,
    corpus_key: str,
    cache: bool | Path = True,
    batch_size: int | None = None,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[NeuronRef, torch.Tensor]:
    """Activations `[rows, pos]` of each neuron over a corpus batch, from cache where possible.

    All neurons missing from the cache are computed together in one batched pass that stops at
    the deepest of their layers: in this process, or by `executor` (neurontest.engine.executors,
    e.g. a Ray pool), whose whole result is written here as a local run's would be.
    """
    neurons = list(dict.fromkeys(neurons))
    store = None
    if cache:
        store = ActivationCache(model_key, corpus_key, cache if isinstance(cache, Path) else None)
    shape = tuple(batch.tokens.shape)
    found: dict[NeuronRef, torch.Tensor] = {}
    if store is not None:
        _load_into(store, neurons, shape, found)
    missing = [n for n in neurons if n not in found]
    if missing:
        with _mining_lock(store):
            if store is not None:  # another process may have mined them while we waited
                _load_into(store, missing, shape, found)
                missing = [n for n in missing if n not in found]
            compute = executor.activations if executor is not None else neuron_activations
            computed = compute(
                model, batch, missing, batch_size=batch_size,
                progress=f"mining {len(missing)} neuron(s)" if progress else False,
            ) if missing else {}
            for neuron, values in computed.items():
                if store is not None:
                    store.store(neuron, values)
                    store.misses += 1
                found[neuron] = values
    return {n: found[n] for n in neurons}


def cached_activations(model_key: str, corpus_key: str, neurons: Sequence[NeuronRef],
                       shape: tuple[int, ...], cache: bool | Path = True) -> dict[NeuronRef, torch.Tensor]:
    """Whichever of `neurons` the disk cache holds for this model and corpus (no model needed)."""
    found: dict[NeuronRef, torch.Tensor] = {}
    if cache:
        store = ActivationCache(model_key, corpus_key, cache if isinstance(cache, Path) else None)
        _load_into(store, list(neurons), shape, found)
    return found


def _load_into(store: ActivationCache, neurons: Sequence[NeuronRef], shape: tuple[int, ...],
               found: dict[NeuronRef, torch.Tensor]) -> None:
    for neuron in neurons:
        values = store.load(neuron, shape)
        if values is not None:
            found[neuron] = values
            store.hits += 1


@contextmanager
def _mining_lock(store: ActivationCache | None) -> Iterator[None]:
    """An exclusive lock on the cache folder while mining (POSIX flock; none elsewhere or when the
    folder is unwritable): concurrent pytest-xdist workers on a cold cache then mine once, the
    others wait and read the files, instead of every worker mining the same corpus at once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None
    handle = None
    if store is not None and fcntl is not None:
        try:
            store.folder.mkdir(parents=True, exist_ok=True)
            handle = open(store.folder / ".lock", "a")  # noqa: SIM115 - released below
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:
            if handle is not None:
                handle.close()
            handle = None
    try:
        yield
    finally:
        if handle is not None:
            handle.close()  # closing releases the flock


def _checksum(values: Any) -> str:
    return hashlib.sha256(values.numpy().tobytes()).hexdigest()[:16]
