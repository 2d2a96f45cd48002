"""Mediation: how much of an edit's effect on a target goes through other units.

Three runs of the same texts (batched): the base run (its `through` units' values captured), the
edited run (the units edited) and the held run (the same edit, with every `through` unit held at
its base-run value at every position). edited - base is the total effect; held - base the direct
effect, the part that does not go through the held units; their ratio gives the mediated share.

The edit is constant (zero, a mean, a steer: `values`) at every position, or, with `donors`
(texts of the same length), a patch: the units take their values on the donor text at `positions`
(then one more forward, of the donors, per chunk).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch

from neurontest.engine.data.tokens import display_tokens, encode_texts, merged_pieces
from neurontest.engine.run.activations import _model_device
from neurontest.engine.units.protocol import check_units, edit_hooks, patch_hooks, state_hooks
from neurontest.measure.targets import Target, target_series


@dataclass
class MediatedText:
    """The target at each real position of one text on the base, edited and held runs (with
    `next`, the last position reads NaN), read off the runs' logits (the report draws them as
    heatmaps); `pieces` are the hover forms of merged byte pieces (`merged_pieces`)."""

    str_tokens: list[str]
    base: list[float]
    edited: list[float]
    held: list[float]
    pieces: list[str] = field(default_factory=list)


def mediate(
    model: Any,
    units: Sequence[Any],
    through: Sequence[Any],
    texts: Sequence[str],
    target: Target,
    *,
    values: Mapping[Any, float] | None = None,
    add: bool = False,
    donors: Sequence[str] | None = None,
    positions: Sequence[Sequence[int]] | None = None,
    labels: Sequence[str] | None = None,
    batch_size: int = 16,
) -> list[MediatedText]:
    """Edit `units` on `texts` (set to `values`, or shifted by them with `add`; or patched from
    `donors` at `positions`, every position where empty) and measure `target` with and without
    `through` held at its unedited values. `labels` (default: `texts`) are the texts whose
    tokens are the true next tokens for `next`."""
    units, through = list(dict.fromkeys(units)), list(dict.fromkeys(through))
    if not units or not through:
        raise ValueError("mediation needs units to edit and units to hold")
    overlap = set(units) & set(through)
    if overlap:
        raise ValueError(f"{', '.join(sorted(u.short_id for u in overlap))} is both edited and "
                         "held; a unit cannot mediate its own edit")
    if (values is None) == (donors is None):
        raise ValueError("give the edit as values= (constant) or donors= (patch), one of them")
    check_units(model, units + through)
    target.check(model.tokenizer)
    batch = encode_texts(model.tokenizer, texts)
    label_batch = encode_texts(model.tokenizer, labels) if labels is not None else batch
    donor_batch = encode_texts(model.tokenizer, donors) if donors is not None else None
    lengths = batch.lengths
    for other in (label_batch, donor_batch):
        if other is not None and other.lengths.tolist() != lengths.tolist():
            raise ValueError("mediation over pairs needs texts of the same token length")
    first = int(batch.has_bos)
    device = _model_device(model)
    out: list[MediatedText] = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            rows = list(range(start, min(start + batch_size, len(texts))))
            width = int(lengths[rows].max())
            tokens = batch.tokens[rows, :width].to(device)
            label_tokens = label_batch.tokens[rows, :width]
            if donor_batch is not None:
                where = torch.zeros((len(rows), width), dtype=torch.bool)
                for r, i in enumerate(rows):
                    marked = [first + p for p in (positions or [[]] * len(texts))[i]]
                    where[r, marked or list(range(first, int(lengths[i])))] = True
                sink: dict[Any, list[torch.Tensor]] = {u: [] for u in units}
                model.run_with_hooks(donor_batch.tokens[rows, :width].to(device),
                                     fwd_hooks=state_hooks(model, units, sink))
                edit = patch_hooks(model, {u: sink[u][0] for u in units}, where)
            else:
                edit = edit_hooks(model, dict(values or {}), add=add)
            kept: dict[Any, list[torch.Tensor]] = {u: [] for u in through}
            base = model.run_with_hooks(tokens, fwd_hooks=state_hooks(model, through, kept))
            edited = model.run_with_hooks(tokens, fwd_hooks=edit)
            everywhere = torch.ones((len(rows), width), dtype=torch.bool)
            hold = patch_hooks(model, {u: kept[u][0] for u in through}, everywhere)
            held = model.run_with_hooks(tokens, fwd_hooks=edit + hold)
            series = [target_series(model.tokenizer, target, logits, label_tokens)
                      for logits in (base, edited, held)]
            for r, i in enumerate(rows):
                n = int(lengths[i])
                ids = batch.tokens[i, first:n].tolist()
                out.append(MediatedText(display_tokens(model.tokenizer, ids),
                                        *(s[r, first:n].tolist() for s in series),
                                        pieces=merged_pieces(model.tokenizer, ids)))
    return out
