"""Top-activating and random corpus positions, each with a window of context.

Top-k views are biased towards a neuron's strongest mode (NeuronEval, arXiv 2506.05774);
`random_examples` gives the unbiased view to set beside them. Only masked positions count, so
neither BOS nor padding can ever be picked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from neurontest.engine.data.tokens import display_tokens, merged_pieces

if TYPE_CHECKING:

    from neurontest.engine.data.tokens import TokenBatch


@dataclass
class CorpusExample:
    """One corpus position and its context.

    `position` indexes the row of the batch (BOS, when present, is 0); `str_tokens` and `values`
    cover the context window (BOS excluded); `focus` is the picked token's index in that window.
    `str_tokens` are display strings and `pieces` the hover forms of merged byte pieces
    (`engine.tokens.display_tokens`, `merged_pieces`).
    """

    row: int
    position: int
    activation: float
    str_tokens: list[str]
    values: list[float]
    focus: int
    pieces: list[str] = field(default_factory=list)

    @property
    def token(self) -> str:
        return self.str_tokens[self.focus]


def top_examples(
    values: torch.Tensor,
    batch: TokenBatch,
    tokenizer: Any,
    *,
    k: int = 10,
    context_before: int = 12,
    context_after: int = 3,
    one_per_row: bool = True,
) -> list[CorpusExample]:
    """The `k` highest-activating masked positions, best first.

    With `one_per_row`, each row contributes at most its own maximum, so one repetitive document
    cannot fill the list.
    """
    _check_shapes(values, batch)
    scores = values.float().masked_fill(~batch.mask, float("-inf"))
    if one_per_row:
        best, positions = scores.max(dim=1)
        order = best.argsort(descending=True, stable=True)
        # Filter and cut as tensors: a Python loop over every row cost ~30 ms per call.
        order = order[torch.isfinite(best[order])][:k]
        picks = list(zip(order.tolist(), positions[order].tolist()))
    else:
        flat = scores.flatten()
        n_real = int(batch.mask.sum())
        top = flat.topk(min(k, n_real)).indices
        width = scores.shape[1]
        picks = [(int(i) // width, int(i) % width) for i in top]
    ends = _row_ends(batch)
    return [
        _example(values, batch, tokenizer, r, p, context_before, context_after, ends[r])
        for r, p in picks[:k]
    ]


def random_examples(
    values: torch.Tensor,
    batch: TokenBatch,
    tokenizer: Any,
    *,
    k: int = 10,
    seed: int = 0,
    context_before: int = 12,
    context_after: int = 3,
) -> list[CorpusExample]:
    """`k` masked positions drawn uniformly without replacement (reproducible for a `seed`).

    Returned in corpus order (row, then position), not by activation.
    """
    _check_shapes(values, batch)
    real = batch.mask.flatten().nonzero().flatten()
    generator = torch.Generator().manual_seed(seed)
    chosen = real[torch.randperm(len(real), generator=generator)[:k]].sort().values
    width = batch.mask.shape[1]
    ends = _row_ends(batch)
    return [
        _example(values, batch, tokenizer, int(i) // width, int(i) % width, context_before,
                 context_after, ends[int(i) // width])
        for i in chosen
    ]


def _row_ends(batch: TokenBatch) -> list[int]:
    # Each row's length, taken once per call: `batch.lengths` sums the whole mask each time.
    return batch.lengths.tolist()


def _example(
    values: torch.Tensor,
    batch: TokenBatch,
    tokenizer: Any,
    row: int,
    position: int,
    before: int,
    after: int,
    end: int,
) -> CorpusExample:
    first = int(batch.has_bos)
    start = max(first, position - before)
    stop = min(end, position + after + 1)
    # Decoded with up to 3 tokens before the window (a character has at most 4 bytes), so a
    # character the window's start cuts through shows whole instead of as U+FFFD.
    lead = max(first, start - 3)
    ids = batch.tokens[row, lead:stop].tolist()
    pieces = merged_pieces(tokenizer, ids)[start - lead:]
    return CorpusExample(
        row=row,
        position=position,
        activation=float(values[row, position]),
        str_tokens=display_tokens(tokenizer, ids)[start - lead:],
        values=values[row, start:stop].float().tolist(),
        focus=position - start,
        pieces=pieces if any(pieces) else [],
    )


def _check_shapes(values: torch.Tensor, batch: TokenBatch) -> None:
    if tuple(values.shape) != tuple(batch.mask.shape):
        raise ValueError(
            f"values have shape {tuple(values.shape)} but the batch is {tuple(batch.mask.shape)}; "
            f"pass the activations computed on this batch"
        )
