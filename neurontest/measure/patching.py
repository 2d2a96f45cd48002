"""Activation patching over counterfactual pairs: copy units' values from one run into another.

A pair is a clean and a corrupt text of the same token length. Denoising runs the corrupt text
with the units set, at the patched positions, to their values on the clean text; noising runs
the clean text with the corrupt values. The target (`measure.targets`) is read off the prediction
at the pair's final position, the convention of the patching literature (the prompt ends where
the answer is predicted); with `next`, the clean text's last token is the answer, predicted at
the position before it.

Cost per chunk of pairs: one forward of the donor run (capturing the units), one of the receiving
run, one patched: three forwards per pair, batched. The target is read off all three runs' logits
at every position (the report's heatmaps), at no further cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from neurontest.engine.data.tokens import display_tokens, encode_texts, merged_pieces
from neurontest.engine.run.activations import _model_device
from neurontest.engine.units.protocol import check_units, patch_hooks, state_hooks
from neurontest.measure.targets import Target, target_series

DIRECTIONS = ("denoising", "noising")


@dataclass
class PatchedPair:
    """One pair's target on the clean, corrupt and patched runs, read at `read_at` (a real-token
    index: 0 is the first token after BOS).

    The `*_series` hold the target read off the same runs at every real position (with `next`,
    the last reads NaN): `patched_series[read_at] == patched`. The patched run is the corrupt
    text's (denoising) or the clean text's (noising); `patched_at` are the positions patched.
    `*_pieces` are the hover forms of merged byte pieces (`engine.tokens.merged_pieces`)."""

    clean: float
    corrupt: float
    patched: float
    read_at: int
    clean_tokens: list[str] = field(default_factory=list)
    corrupt_tokens: list[str] = field(default_factory=list)
    clean_series: list[float] = field(default_factory=list)
    corrupt_series: list[float] = field(default_factory=list)
    patched_series: list[float] = field(default_factory=list)
    patched_at: list[int] = field(default_factory=list)
    clean_pieces: list[str] = field(default_factory=list)
    corrupt_pieces: list[str] = field(default_factory=list)


def read_position(n_tokens: int, target: Target) -> int:
    """Where a pair's target is read (real-token index): the final position, or with `next`
    the one before it (whose true next token is the clean text's last)."""
    return n_tokens - 2 if target.is_next else n_tokens - 1


def patch(
    model: Any,
    units: Sequence[Any],
    clean: Sequence[str],
    corrupt: Sequence[str],
    positions: Sequence[Sequence[int]],
    target: Target,
    *,
    direction: str = "denoising",
    batch_size: int = 16,
) -> list[PatchedPair]:
    """Patch all `units` together at `positions[i]` (real-token indices; empty: every position)
    of pair i and read `target` on the clean, corrupt and patched runs, at the pair's read
    position and at every position."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown patching direction {direction!r}: use {' or '.join(DIRECTIONS)}")
    units = list(dict.fromkeys(units))
    if not units:
        raise ValueError("no units to patch")
    if not (len(clean) == len(corrupt) == len(positions)):
        raise ValueError("clean, corrupt and positions differ in length")
    check_units(model, units)
    target.check(model.tokenizer)
    clean_batch = encode_texts(model.tokenizer, clean)
    corrupt_batch = encode_texts(model.tokenizer, corrupt)
    lengths = clean_batch.lengths
    for i, (a, b) in enumerate(zip(lengths.tolist(), corrupt_batch.lengths.tolist())):
        if a != b:
            raise ValueError(f"pair {i + 1}: the clean text is {a} tokens, the corrupt {b}; "
                             "counterfactual pairs must tokenize to the same length")
    first = int(clean_batch.has_bos)
    device = _model_device(model)
    out: list[PatchedPair] = []
    with torch.inference_mode():
        for start in range(0, len(clean), batch_size):
            rows = list(range(start, min(start + batch_size, len(clean))))
            width = int(lengths[rows].max())
            c_tokens = clean_batch.tokens[rows, :width].to(device)
            x_tokens = corrupt_batch.tokens[rows, :width].to(device)
            where = torch.zeros((len(rows), width), dtype=torch.bool)
            for r, i in enumerate(rows):
                n = int(lengths[i])
                marked = [first + p for p in positions[i]] or list(range(first, n))
                where[r, marked] = True
            donor, receiver = (c_tokens, x_tokens) if direction == "denoising" else (x_tokens, c_tokens)
            sink: dict[Any, list[torch.Tensor]] = {u: [] for u in units}
            donor_logits = model.run_with_hooks(donor, fwd_hooks=state_hooks(model, units, sink))
            receiver_logits = model(receiver)
            states = {u: sink[u][0] for u in units}
            patched_logits = model.run_with_hooks(receiver, fwd_hooks=patch_hooks(model, states, where))
            read = [target_series(model.tokenizer, target, logits, c_tokens)
                    for logits in (donor_logits, receiver_logits, patched_logits)]
            clean_v, corrupt_v = (read[0], read[1]) if direction == "denoising" else (read[1], read[0])
            for r, i in enumerate(rows):
                n = int(lengths[i])
                at = read_position(n - first, target)
                col = first + at
                ids = [clean_batch.tokens[i, first:n].tolist(), corrupt_batch.tokens[i, first:n].tolist()]
                out.append(PatchedPair(
                    float(clean_v[r, col]), float(corrupt_v[r, col]), float(read[2][r, col]), at,
                    display_tokens(model.tokenizer, ids[0]), display_tokens(model.tokenizer, ids[1]),
                    clean_v[r, first:n].tolist(), corrupt_v[r, first:n].tolist(),
                    read[2][r, first:n].tolist(), list(positions[i]) or list(range(n - first)),
                    merged_pieces(model.tokenizer, ids[0]), merged_pieces(model.tokenizer, ids[1])))
    return out
