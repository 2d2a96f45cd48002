"""Per-token activations of neurons on a handful of texts: the "show me what it does here" view.

Texts are batched and right-padded (see `tokens`), so every value is what an unpadded run of that
text would give; BOS is dropped from the result because it is never scorable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from neurontest.engine.run.activations import neuron_activations
from neurontest.engine.data.tokens import display_tokens, encode_texts, merged_pieces

if TYPE_CHECKING:
    from neurontest.engine.units.protocol import UnitRef
    from neurontest.engine.data.tokens import TokenBatch


@dataclass
class TokenActivations:
    """One text's real tokens (BOS excluded) and a neuron's activation on each of them.

    `str_tokens` are display strings and `pieces` the hover forms of merged byte pieces
    (`engine.tokens.display_tokens`, `merged_pieces`)."""

    text: str
    str_tokens: list[str]
    values: list[float]
    pieces: list[str] = field(default_factory=list)

    def max(self) -> tuple[int, float]:
        """(index into `str_tokens`, value) of the largest activation."""
        if not self.values:
            raise ValueError(f"{self.text!r} has no tokens")
        best = max(range(len(self.values)), key=self.values.__getitem__)
        return best, self.values[best]


def activations_on_texts(
    model: Any,
    neuron: UnitRef,
    texts: Sequence[str],
    *,
    prepend_bos: bool = True,
    batch_size: int = 32,
) -> list[TokenActivations]:
    """The activation of `neuron` on every real token of each text, in batched forward passes."""
    return activations_on_texts_multi(
        model, [neuron], texts, prepend_bos=prepend_bos, batch_size=batch_size
    )[neuron]


def activations_on_texts_multi(
    model: Any,
    neurons: Sequence[UnitRef],
    texts: Sequence[str],
    *,
    prepend_bos: bool = True,
    batch_size: int = 32,
) -> dict[UnitRef, list[TokenActivations]]:
    """Like `activations_on_texts` for several neurons, all read from the same forward passes."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings; wrap a single text as [text]")
    if not texts:
        return {n: [] for n in neurons}
    batch = encode_texts(model.tokenizer, texts, prepend_bos=prepend_bos)
    acts = neuron_activations(model, batch, neurons, batch_size=batch_size)
    return {n: split_rows(batch, acts[n], model.tokenizer) for n in acts}


def split_rows(batch: TokenBatch, values: Any, tokenizer: Any) -> list[TokenActivations]:
    """Cut a `[rows, pos]` activation tensor into per-text lists of real (masked) tokens."""
    out: list[TokenActivations] = []
    for row in range(len(batch)):
        keep = batch.mask[row].nonzero().flatten()
        ids = batch.tokens[row, keep].tolist()
        text = batch.texts[row] if batch.texts is not None else tokenizer.decode(ids)
        out.append(
            TokenActivations(
                text=text,
                str_tokens=display_tokens(tokenizer, ids),
                values=values[row, keep].tolist(),
                pieces=merged_pieces(tokenizer, ids),
            )
        )
    return out
