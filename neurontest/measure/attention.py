"""Where an attention head looks: its pattern over a corpus, and the share of attention mass that
lands on claimed source positions.

For head h of layer L, `blocks.{L}.attn.hook_pattern[b, h, dst, src]` is the softmax over source
positions `src <= dst`. A claim names the source positions per destination, either by a fixed
`offset` (-1: the previous token, 0: itself) or by a mask of source tokens (a predicate); the mass
at a destination is the sum of its attention over those sources. Forwards stop after layer L.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neurontest.engine.activations import _model_device
from neurontest.engine.head import HeadRef

if TYPE_CHECKING:
    import torch

    from neurontest.engine.tokens import TokenBatch


def head_patterns(model: Any, batch: TokenBatch, head: HeadRef, *,
                  batch_size: int = 16) -> torch.Tensor:
    """`[rows, pos, pos]` (float32, CPU): the head's attention from each destination (row) to each
    source (column) on every row of `batch`; padding columns are 0."""
    import torch

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


def mass_on(patterns: torch.Tensor, *, offset: int | None = None,
            sources: torch.Tensor | None = None) -> torch.Tensor:
    """`[rows, pos]`: attention mass from each destination onto its claimed sources: the token
    `offset` away (0 where that falls before the text), or every earlier-or-same position where
    `sources` ([rows, pos] bool) holds."""
    import torch

    rows, width, _ = patterns.shape
    if (offset is None) == (sources is None):
        raise ValueError("give exactly one of offset= or sources=")
    if sources is not None:
        return (patterns * sources[:, None, :].to(patterns.dtype)).sum(-1)
    if offset > 0:
        raise ValueError(f"offset {offset} looks ahead: a causal head attends to offsets <= 0")
    dst = torch.arange(width)
    src = dst + offset
    valid = src >= 0
    mass = torch.zeros(rows, width)
    mass[:, valid] = patterns[:, dst[valid], src[valid]]
    return mass
