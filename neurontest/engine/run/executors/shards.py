"""Cutting a mining pass into shards of corpus rows, and putting the answers back together.

A shard is a run of whole forward batches: its boundaries fall on multiples of the batch size,
so each worker runs exactly the forward passes a local run would (same rows together, same
trimmed width), and on CPU in the same dtype the assembled activations equal a local run's bit
for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import torch

if TYPE_CHECKING:
    from neurontest.engine.units.protocol import UnitRef

# Shards per worker: more than one lets a fast worker take over a slow one's share and makes a
# retried shard cheap; each shard costs a round trip (measured in `neurontest bench`, scaling).
SHARDS_PER_WORKER = 4
# Most bytes of columns one shard returns: a worker's answer must fit Ray's object store and the
# wire comfortably, however many tokens a pass covers (1,000 neurons x 64 positions x 4 bytes =
# 256 KB per row, so about 1,000 rows).
MAX_SHARD_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Shard:
    """Rows `start:stop` of the corpus batch."""

    index: int
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start

    def __str__(self) -> str:
        return f"shard {self.index} (corpus rows {self.start}-{self.stop - 1})"


def plan_shards(n_rows: int, batch_size: int, n_workers: int, *,
                per_worker: int = SHARDS_PER_WORKER, max_rows: int | None = None) -> list[Shard]:
    """Shards covering rows `0:n_rows`, each a whole number of `batch_size` batches (the last
    may be short), about `per_worker` per worker, and at most `max_rows` rows (rounded down to
    whole batches, at least one batch) when given."""
    if n_rows < 0 or batch_size < 1 or n_workers < 1 or per_worker < 1:
        raise ValueError(f"cannot shard {n_rows} rows in batches of {batch_size} over "
                         f"{n_workers} worker(s)")
    n_batches = math.ceil(n_rows / batch_size)
    if n_batches == 0:
        return []
    batches_per_shard = max(1, math.ceil(n_batches / (n_workers * per_worker)))
    if max_rows is not None:
        batches_per_shard = max(1, min(batches_per_shard, max_rows // batch_size))
    step = batches_per_shard * batch_size
    return [Shard(i, start, min(start + step, n_rows))
            for i, start in enumerate(range(0, n_rows, step))]


def max_shard_rows(width: int, n_neurons: int, budget: int = MAX_SHARD_BYTES) -> int:
    """Rows whose float32 columns for `n_neurons` neurons fit in `budget` bytes."""
    return max(1, budget // max(1, width * n_neurons * 4))


def assemble(shards: Sequence[Shard], columns: Mapping[int, Mapping[UnitRef, torch.Tensor]],
             neurons: Sequence[UnitRef], width: int) -> dict[UnitRef, torch.Tensor]:
    """Each neuron's `[rows, width]` activations from every shard's columns, in row order.

    ValueError if a shard is missing or returned the wrong shape: a partial result must never
    pass for a whole one."""
    out: dict[UnitRef, torch.Tensor] = {}
    for neuron in neurons:
        if getattr(neuron, "accumulates", False):  # a layer scan: the shards' summaries add up
            missing = [s for s in shards if neuron not in columns.get(s.index, {})]
            if missing:
                raise ValueError(f"{missing[0]} returned no summary for {neuron.short_id}")
            out[neuron] = neuron.combine([columns[s.index][neuron] for s in shards])
            continue
        parts = []
        for shard in shards:
            if shard.index not in columns or neuron not in columns[shard.index]:
                raise ValueError(f"{shard} returned no activations for {neuron.short_id}")
            part = columns[shard.index][neuron]
            if tuple(part.shape) != (shard.rows, width):
                raise ValueError(f"{shard} returned activations of shape {tuple(part.shape)} for "
                                 f"{neuron.short_id}, expected {(shard.rows, width)}")
            parts.append(part)
        out[neuron] = torch.cat(parts, dim=0) if parts else torch.zeros(0, width)
    return out
