"""Where an attention head looks: its pattern over a corpus, and the share of attention mass that
lands on claimed source positions.

For head h of layer L, `blocks.{L}.attn.hook_pattern[b, h, dst, src]` is the softmax over source
positions `src <= dst`. A claim names the source positions per destination, either by a fixed
`offset` (-1: the previous token, 0: itself) or by a mask of source tokens (a predicate); the mass
at a destination is the sum of its attention over those sources (`engine.attention_mass.mass_on`,
which the mining pass uses too). Forwards stop after layer L.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from neurontest.engine.run.activations import _model_device
from neurontest.engine.units.head import HeadRef

if TYPE_CHECKING:

    from neurontest.engine.data.tokens import TokenBatch


def head_patterns(model: Any, batch: TokenBatch, head: HeadRef, *,
                  batch_size: int = 16) -> torch.Tensor:
    """`[rows, pos, pos]` (float32, CPU): the head's attention from each destination (row) to each
    source (column) on every row of `batch`; padding columns are 0."""
    head.check(model)
    rows, width = batch.tokens.shape
    out = torch.zeros(rows, width, width)
    sink: dict[str, torch.Tensor] = {}

    def capture(value: torch.Tensor, hook: Any = None) -> None:
        sink["p"] = value[:, head.head].detach().float().cpu()

    n_layers = int(model.cfg.n_layers)
    stop = head.layer + 1 if head.layer + 1 < n_layers else None
    device = _model_device(model)
    with torch.inference_mode():
        for start in range(0, rows, batch_size):
            stop_row = min(start + batch_size, rows)
            used = int(batch.lengths[start:stop_row].max())
            model.run_with_hooks(batch.tokens[start:stop_row, :used].to(device),
                                 fwd_hooks=[(head.pattern_hook, capture)], stop_at_layer=stop)
            out[start:stop_row, :used, :used] = sink.pop("p")
    return out
