"""On-disk cache of mined activations, so a warm re-run does no model pass.

One file per (model fingerprint, corpus fingerprint, neuron). Writes are atomic
(neurontest.engine.store.files: concurrent pytest-xdist workers and kill -9 never leave half a file).
Each file records its values' shape, dtype and checksum; an entry that fails to load or to verify
is dropped with a warning and recomputed, never trusted. An unwritable cache folder costs one
warning and the run goes on with what it mined in memory.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import torch

from neurontest.engine.run.activations import neuron_activations
from neurontest.engine.store.files import (
    drop_cache_entry,
    locked,
    read_torch_entry,
    sweep_once,
    write_cache_entry,
)
from neurontest.engine.store.paths import cache_root

if TYPE_CHECKING:
    from neurontest.engine.data.tokens import TokenBatch
    from neurontest.engine.run.executors import Executor
    from neurontest.engine.units.protocol import UnitRef

_FORMAT = 1


class ActivationCache:
    """Activations of single neurons over one tokenized corpus, for one model."""

    def __init__(self, model_key: str, corpus_key: str, root: Path | None = None) -> None:
        self.folder = (root or cache_root() / "activations") / model_key / corpus_key
        self.hits = 0
        self.misses = 0

    def path(self, neuron: UnitRef) -> Path:
        # A neuron's key is its short id (caches written before other units existed stay valid).
        return self.folder / f"{neuron.cache_key}.pt"

    def load(self, neuron: UnitRef, shape: tuple[int, ...]) -> torch.Tensor | None:
        """The cached activations of `neuron`, or None if absent; an unreadable or corrupt entry
        is dropped with a warning (and None returned, so it is mined again)."""

        path = self.path(neuron)
        entry = read_torch_entry(path)
        if entry is None:
            return None
        # A layer scan's summary is `[units, F]` float64, not the corpus's columns.
        summary = getattr(neuron, "accumulates", False)
        problem = _entry_problem(entry, None if summary else shape,
                                 "float64" if summary else "float32")
        if problem is not None:
            drop_cache_entry(path, problem)
            return None
        return entry["values"]

    def store(self, neuron: UnitRef, values: torch.Tensor) -> bool:
        """Write one neuron's activations; False if the cache folder cannot be written."""
        values = values.contiguous()
        entry = {"format": _FORMAT, "values": values, "shape": list(values.shape),
                 "dtype": str(values.dtype), "checksum": _checksum(values)}
        return write_cache_entry(self.path(neuron), lambda f: torch.save(entry, f))


def _entry_problem(entry: Any, shape: tuple[int, ...] | None, dtype: str = "float32") -> str | None:
    """What is wrong with a stored entry (its typed record: a `dtype` tensor of the corpus's
    shape, any shape where `shape` is None, whose recorded shape, dtype and checksum match), or
    None."""
    if not isinstance(entry, dict) or not isinstance(entry.get("values"), torch.Tensor):
        return "no values tensor"
    if entry.get("format") != _FORMAT:
        return f"format {entry.get('format')!r}, expected {_FORMAT}"
    values = entry["values"]
    if values.dtype != getattr(torch, dtype) or entry.get("dtype", str(values.dtype)) != str(values.dtype):
        return f"dtype {values.dtype} (recorded {entry.get('dtype')!r}), expected torch.{dtype}"
    recorded = list(entry.get("shape", values.shape))
    if recorded != list(values.shape) or (shape is not None and tuple(values.shape) != tuple(shape)):
        return f"shape {tuple(values.shape)}, the corpus has {tuple(shape or recorded)}"
    if entry.get("checksum") != _checksum(values):
        return "checksum mismatch"
    return None


def mine(
    model: Any,
    batch: TokenBatch,
    neurons: Sequence[UnitRef],
    *,
    model_key: str,
    corpus_key: str,
    cache: bool | Path = True,
    batch_size: int | None = None,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[UnitRef, torch.Tensor]:
    """Activations `[rows, pos]` of each neuron over a corpus batch, from cache where possible.

    All neurons missing from the cache are computed together in one batched pass that stops at
    the deepest of their layers: in this process, or by `executor` (neurontest.engine.run.executors,
    e.g. a Ray pool), whose whole result is written here as a local run's would be.
    """
    neurons = list(dict.fromkeys(neurons))
    store = None
    if cache:
        store = ActivationCache(model_key, corpus_key, cache if isinstance(cache, Path) else None)
    shape = tuple(batch.tokens.shape)
    found: dict[UnitRef, torch.Tensor] = {}
    if store is not None:
        sweep_once(store.folder)  # temp files of writers killed mid-write
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
                progress=mining_label(missing) if progress else False,
            ) if missing else {}
            for neuron, values in computed.items():
                if store is not None:
                    store.store(neuron, values)
                    store.misses += 1
                found[neuron] = values
    return {n: found[n] for n in neurons}


_KIND_NAMES = {"neuron": "neuron(s)", "head": "head(s)", "latent": "latent(s)",
               "direction": "direction(s)", "attention": "attention stat(s)"}


def mining_label(units: Sequence[Any]) -> str:
    """What a pass mines, by kind: `mining 25 neuron(s), 3 attention stat(s)`."""
    counts: dict[str, int] = {}
    for unit in units:
        counts[unit.kind] = counts.get(unit.kind, 0) + 1
    return "mining " + ", ".join(f"{n} {_KIND_NAMES.get(kind, kind + '(s)')}"
                                 for kind, n in counts.items())


def cached_activations(model_key: str, corpus_key: str, neurons: Sequence[UnitRef],
                       shape: tuple[int, ...], cache: bool | Path = True) -> dict[UnitRef, torch.Tensor]:
    """Whichever of `neurons` the disk cache holds for this model and corpus (no model needed)."""
    found: dict[UnitRef, torch.Tensor] = {}
    if cache:
        store = ActivationCache(model_key, corpus_key, cache if isinstance(cache, Path) else None)
        _load_into(store, list(neurons), shape, found)
    return found


def _load_into(store: ActivationCache, neurons: Sequence[UnitRef], shape: tuple[int, ...],
               found: dict[UnitRef, torch.Tensor]) -> None:
    for neuron in neurons:
        values = store.load(neuron, shape)
        if values is not None:
            found[neuron] = values
            store.hits += 1


@contextmanager
def _mining_lock(store: ActivationCache | None) -> Iterator[None]:
    """An exclusive lock on the cache folder while mining (none when the folder is unwritable or
    there is no cache): concurrent pytest-xdist workers on a cold cache then mine once, the others
    wait and read the files, instead of every worker mining the same corpus at once."""
    if store is None:
        yield
        return
    with locked(store.folder / ".lock"):
        yield


def _checksum(values: Any) -> str:
    return hashlib.sha256(values.numpy().tobytes()).hexdigest()[:16]
