"""Turning corpus examples into heatmap rows that failure messages and reports show."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neurontest.claims.base import TokenRow
from neurontest.measure.top_examples import top_examples

if TYPE_CHECKING:
    import torch

    from neurontest.engine.units.protocol import UnitRef
    from neurontest.lab import Lab
    from neurontest.measure.top_examples import CorpusExample


def example_row(example: CorpusExample, label: str = "") -> TokenRow:
    return TokenRow(list(example.str_tokens), [float(v) for v in example.values], [example.focus],
                    label=label or f"activation {example.activation:.3g}", pieces=list(example.pieces))


def corpus_rows(
    lab: Lab,
    neuron: UnitRef,
    allowed: torch.Tensor,
    k: int,
    claimed: torch.Tensor,
    *,
    weakest: bool = False,
) -> list[TokenRow]:
    """Heatmap rows for the `k` strongest (or `weakest`) activations among `allowed` corpus
    positions, labelled with whether the claim's predicate holds at the focus token."""
    k = min(k, int(allowed.sum()))
    if k <= 0:
        return []
    values = lab.activations(neuron)
    # Rank only allowed positions; the batch (and so every row's length) stays as it is.
    ranking = (-values if weakest else values).float().masked_fill(~allowed, float("-inf"))
    rows = []
    for example in top_examples(ranking, lab.sample.batch, lab.tokenizer, k=k):
        start = example.position - example.focus
        real = values[example.row, start : start + len(example.str_tokens)].tolist()
        holds = bool(claimed[example.row, example.position])
        label = f"activation {real[example.focus]:.3g}; claim {'holds' if holds else 'does not hold'} here"
        rows.append(TokenRow(list(example.str_tokens), real, [example.focus], label=label,
                             pieces=list(example.pieces)))
    return rows


def describe_rows(rows: list[TokenRow], limit: int = 3, width: int = 12) -> list[str]:
    """Plain-text lines for rows: tokens around the focus with values in brackets."""
    lines = []
    for row in rows[:limit]:
        focus = row.marked[0] if row.marked else len(row.str_tokens) - 1
        lo = max(0, focus - width)
        parts: list[Any] = []
        for i in range(lo, min(len(row.str_tokens), focus + 3)):
            token = row.str_tokens[i].replace("\n", "\\n")
            if not token and i < len(row.pieces):
                token = row.pieces[i]  # a byte piece of a character shown later: name it, as hover does
            mark = "*" if i in row.marked else ""
            parts.append(f"{mark}{token}[{row.values[i]:.2f}]{mark}")
        lines.append(f"    {row.label}: " + "".join(str(p) for p in parts))
    return lines
