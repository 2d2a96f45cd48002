"""Causal effect of neurons: ablate them and measure how next-token predictions move.

Per position, as the field reports (metrics-and-conventions, "Causal claims"): the change in
log-prob of the true next token, of named target tokens, and KL(p_clean || p_ablated). Results are
per position, never averaged here: means can hide effects that cancel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from neurontest.engine.activations import _model_device
from neurontest.engine.units import check_units
from neurontest.engine.neuron import NeuronRef
from neurontest.engine.tokens import (
    TokenBatch,
    display_tokens,
    encode_texts,
    merged_pieces,
    single_token_id,
)
from neurontest.engine.units import edit_hooks


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
    neurons: NeuronRef | Sequence[NeuronRef],
    texts: Sequence[str] | TokenBatch,
    *,
    mode: str = "zero",
    means: dict[NeuronRef, float] | None = None,
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
    import torch

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


def ablation_hooks(values: dict[Any, float], model: Any = None, *,
                   add: bool = False) -> list[tuple[str, Callable[..., Any]]]:
    """Forward hooks that overwrite each unit's activation with `values[unit]` (with `add`: shift
    it, i.e. steer). Neurons need no `model`; heads, SAE latents and directions read weights."""
    return edit_hooks(model, values, add=add)


def _replacement_values(
    neurons: list[NeuronRef], mode: str, means: dict[NeuronRef, float] | None
) -> dict[NeuronRef, float]:
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
