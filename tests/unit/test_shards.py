"""Shards of a mining pass: whole batches, every row once, assembled in row order."""

from __future__ import annotations

import pytest
import torch

from neurontest.engine.run.executors import make_executor
from neurontest.engine.run.executors.shards import Shard, assemble, plan_shards
from neurontest.engine.units.neuron import NeuronRef


@pytest.mark.parametrize("rows, batch, workers", [(207, 32, 2), (207, 4, 2), (5, 32, 3), (64, 32, 1),
                                                  (1000, 7, 5)])
def test_shards_cover_every_row_once_on_batch_boundaries(rows, batch, workers):
    shards = plan_shards(rows, batch, workers)
    assert shards[0].start == 0 and shards[-1].stop == rows
    assert all(a.stop == b.start for a, b in zip(shards, shards[1:]))
    assert all(s.start % batch == 0 for s in shards)
    assert [s.index for s in shards] == list(range(len(shards)))


def test_a_shard_returns_at_most_the_byte_budget_in_whole_batches():
    from neurontest.engine.run.executors.shards import max_shard_rows

    rows = max_shard_rows(64, 1000, budget=64 * 1000 * 4 * 100)  # 100 rows of 1,000 columns
    assert rows == 100
    shards = plan_shards(10_000, 32, 1, max_rows=rows)
    assert max(s.rows for s in shards) == 96 and len(shards) == 105
    assert plan_shards(100, 32, 1, max_rows=1)[0].rows == 32  # never less than one batch


def test_no_rows_no_shards_and_bad_counts_are_refused():
    assert plan_shards(0, 32, 2) == []
    with pytest.raises(ValueError, match="cannot shard"):
        plan_shards(10, 0, 2)


def test_assemble_puts_rows_back_in_order_and_refuses_a_missing_or_misshapen_shard():
    ref = NeuronRef(0, 1)
    shards = [Shard(0, 0, 2), Shard(1, 2, 3)]
    cols = {1: {ref: torch.full((1, 4), 2.0)}, 0: {ref: torch.ones(2, 4)}}
    out = assemble(shards, cols, [ref], 4)[ref]
    assert out.tolist() == [[1.0] * 4, [1.0] * 4, [2.0] * 4]
    with pytest.raises(ValueError, match="shard 1 .* returned no activations for L0N1"):
        assemble(shards, {0: cols[0]}, [ref], 4)
    with pytest.raises(ValueError, match="shape"):
        assemble(shards, {0: cols[0], 1: {ref: torch.ones(2, 4)}}, [ref], 4)


def test_executor_names():
    assert make_executor(None).name == make_executor("local").name == "local"
    with pytest.raises(ValueError, match="unknown: use one of local, ray"):
        make_executor("dask")
    with pytest.raises(ValueError, match="needs --neurontest-executor ray"):
        make_executor("local", address="ray://head:10001")
