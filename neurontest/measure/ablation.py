"""Causal effect of neurons: ablate them and measure how next-token predictions move.

Per position, as the field reports (metrics-and-conventions, "Causal claims"): the change in
log-prob of the true next token, of named target tokens, and KL(p_clean || p_ablated). Results are
per position, never averaged here: means can hide effects that cancel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

from neurontest.engine.data.tokens import (
    TokenBatch,
    display_tokens,
    encode_texts,
    merged_pieces,
    single_token_id,
)
from neurontest.engine.run.activations import _model_device
from neurontest.engine.units.protocol import UnitRef, check_units, edit_hooks

ABLATION_MODES = ("zero", "mean", "steer")


@dataclass
class AblationEffect:
    """Effect of an ablation on one text. Differences are always ablated minus clean.

    `str_tokens` are the real tokens (BOS excluded); index i below is the real token i.
    - `true_next_logprob_diff[i]`: change in log p(token i+1 | tokens <= i), the prediction made
      at token i of the token that really follows; length `len(str_tokens) - 1`.
    - `target_logprob_diff[t][i]`: change in log p(t) predicted at token i; length `len(str_tokens)`.
    - `kl[i]`: KL(p_clean || p_ablated) of the next-token distribution at token i, in nats.
    """

    text: str
    str_tokens: list[str]
    true_next_logprob_diff: list[float]
    target_logprob_diff: dict[str, list[float]] = field(default_factory=dict)
    kl: list[float] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)  # hover forms of merged byte pieces


def ablate(
    model: Any,
    neurons: UnitRef | Sequence[UnitRef],
    texts: Sequence[str] | TokenBatch,
    *,
    mode: str = "zero",
    means: dict[UnitRef, float] | None = None,
    steer_by: float | None = None,
    targets: Sequence[str] = (),
    batch_size: int = 16,
    prepend_bos: bool = True,
) -> list[AblationEffect]:
    """Ablate all `neurons` together (any layers) and measure the effect on every text.

    `mode="zero"` sets each neuron to 0; `mode="mean"` sets it to `means[neuron]` (its mean over
    a reference corpus, which the caller computes); `mode="steer"` adds `steer_by` to it at every
    position (an SAE latent adds that much of its decoder row). Each chunk of `batch_size` texts
    costs one clean and one edited forward.
    """
    neurons = list(dict.fromkeys(neurons)) if isinstance(neurons, (list, tuple)) else [neurons]
    if not neurons:
        raise ValueError("no neurons to ablate")
    check_units(model, neurons)
    if mode == "steer":
        if steer_by is None:
            raise ValueError("mode='steer' needs steer_by=<how much to add to each unit>")
        hooks = ablation_hooks({n: float(steer_by) for n in neurons}, model, add=True)
    else:
        hooks = ablation_hooks(_replacement_values(neurons, mode, means), model)
    target_ids = {t: single_token_id(model.tokenizer, t) for t in targets}
    batch = texts if isinstance(texts, TokenBatch) else _encode(model, texts, prepend_bos)
    device = _model_device(model)
    first = int(batch.has_bos)
    effects: list[AblationEffect] = []
    with torch.inference_mode():
        for start in range(0, len(batch), batch_size):
            chunk = batch.select(list(range(start, min(start + batch_size, len(batch)))))
            width = int(chunk.lengths.max())
            tokens = chunk.tokens[:, :width].to(device)
            clean = model(tokens).float().log_softmax(-1)
            ablated = model.run_with_hooks(tokens, fwd_hooks=hooks).float().log_softmax(-1)
            kl = (clean.exp() * (clean - ablated)).sum(-1).cpu()
            diff = ablated - clean
            next_diff = diff[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0].cpu()
            by_target = {t: diff[..., i].cpu() for t, i in target_ids.items()}
            for row in range(len(chunk)):
                n = int(chunk.lengths[row])
                ids = chunk.tokens[row, first:n].tolist()
                effects.append(
                    AblationEffect(
                        text=_text(chunk, row, model.tokenizer, ids),
                        str_tokens=display_tokens(model.tokenizer, ids),
                        true_next_logprob_diff=next_diff[row, first : n - 1].tolist(),
                        target_logprob_diff={t: v[row, first:n].tolist() for t, v in by_target.items()},
                        kl=kl[row, first:n].clamp_min(0.0).tolist(),
                        pieces=merged_pieces(model.tokenizer, ids),
                    )
                )
    return effects


def ablate_each(
    model: Any,
    edits: Sequence[Mapping[Any, float]],
    texts: Sequence[str] | TokenBatch,
    *,
    add: bool = False,
    targets: Sequence[str] = (),
    batch_size: int = 32,
    prepend_bos: bool = True,
) -> list[list[AblationEffect]]:
    """Apply each edit of `edits` (units -> value it is set to, or with `add` shifted by) on its
    own to every text: `result[e][t]` is edit `e`'s effect on text `t`, as `ablate` measures it.

    Batched for null distributions: per chunk of texts, one clean forward, then one edited forward
    per `batch_size` rows, the texts stacked once per edit with a hook that edits each row block
    its own way (`per_row_hooks`)."""
    if not edits:
        return []
    for values in edits:
        check_units(model, list(values))
    target_ids = {t: single_token_id(model.tokenizer, t) for t in targets}
    batch = texts if isinstance(texts, TokenBatch) else _encode(model, texts, prepend_bos)
    device = _model_device(model)
    first = int(batch.has_bos)
    results: list[list[AblationEffect]] = [[] for _ in edits]
    text_chunk = max(1, min(len(batch), batch_size))
    with torch.inference_mode():
        for start in range(0, len(batch), text_chunk):
            chunk = batch.select(list(range(start, min(start + text_chunk, len(batch)))))
            width, rows = int(chunk.lengths.max()), len(chunk)
            tokens = chunk.tokens[:, :width].to(device)
            clean = model(tokens).float().log_softmax(-1)
            shown = []
            for row in range(rows):
                ids = chunk.tokens[row, first:int(chunk.lengths[row])].tolist()
                shown.append((_text(chunk, row, model.tokenizer, ids), display_tokens(model.tokenizer, ids),
                              merged_pieces(model.tokenizer, ids)))
            per_forward = max(1, batch_size // rows)
            for e0 in range(0, len(edits), per_forward):
                group = list(edits[e0:e0 + per_forward])
                hooks = per_row_hooks(model, group, rows, add=add)
                edited = model.run_with_hooks(tokens.repeat(len(group), 1), fwd_hooks=hooks)
                edited = edited.float().log_softmax(-1).view(len(group), rows, width, -1)
                for k in range(len(group)):
                    diff = edited[k] - clean
                    kl = (clean.exp() * (clean - edited[k])).sum(-1).cpu()
                    next_diff = diff[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0].cpu()
                    by_target = {t: diff[..., i].cpu() for t, i in target_ids.items()}
                    for row, (text, str_tokens, pieces) in enumerate(shown):
                        n = int(chunk.lengths[row])
                        results[e0 + k].append(AblationEffect(
                            text=text, str_tokens=str_tokens,
                            true_next_logprob_diff=next_diff[row, first:n - 1].tolist(),
                            target_logprob_diff={t: v[row, first:n].tolist() for t, v in by_target.items()},
                            kl=kl[row, first:n].clamp_min(0.0).tolist(), pieces=pieces))
    return results


def per_row_hooks(model: Any, edits: Sequence[Mapping[Any, float]], rows: int, *,
                  add: bool = False) -> list[tuple[str, Callable[..., Any]]]:
    """Hooks for a batch of `len(edits)` blocks of `rows` rows: block `e` gets edit `e`'s own
    hooks (any unit kind: each kind's editors run on its block's slice of the hook's value)."""
    by_name: dict[str, list[tuple[Callable[..., Any], slice]]] = {}
    for e, values in enumerate(edits):
        for name, fn in edit_hooks(model, values, add=add):
            by_name.setdefault(name, []).append((fn, slice(e * rows, (e + 1) * rows)))

    def make(parts: list[tuple[Callable[..., Any], slice]]) -> Callable[..., Any]:
        def hook(value: Any, hook: Any = None) -> Any:
            out = value.clone()
            for fn, block in parts:
                edited = fn(value[block], hook=hook)
                if edited is not None:  # a hook that only reads (an SAE's input) returns None
                    out[block] = edited
            return out

        return hook

    return [(name, make(parts)) for name, parts in by_name.items()]


def ablation_hooks(values: dict[Any, float], model: Any = None, *,
                   add: bool = False) -> list[tuple[str, Callable[..., Any]]]:
    """Forward hooks that overwrite each unit's activation with `values[unit]` (with `add`: shift
    it, i.e. steer). Neurons need no `model`; heads, SAE latents and directions read weights."""
    return edit_hooks(model, values, add=add)


def _replacement_values(
    neurons: list[UnitRef], mode: str, means: dict[UnitRef, float] | None
) -> dict[UnitRef, float]:
    if mode == "zero":
        return {n: 0.0 for n in neurons}
    if mode != "mean":
        raise ValueError(f"unknown ablation mode {mode!r}: use one of {', '.join(ABLATION_MODES)}")
    if means is None:
        raise ValueError(
            "mode='mean' needs means={neuron: mean activation}; compute them on a reference corpus"
        )
    missing = [n.short_id for n in neurons if n not in means]
    if missing:
        raise ValueError(f"mode='mean': no mean given for {', '.join(missing)}")
    return {n: float(means[n]) for n in neurons}


def _encode(model: Any, texts: Sequence[str], prepend_bos: bool) -> TokenBatch:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings; wrap a single text as [text]")
    return encode_texts(model.tokenizer, texts, prepend_bos=prepend_bos)


def _text(batch: TokenBatch, row: int, tokenizer: Any, ids: list[int]) -> str:
    return batch.texts[row] if batch.texts is not None else tokenizer.decode(ids)
