"""Which input tokens matter to a neuron at one position: noise each token's embedding in turn.

Noise is Gaussian, added to the output of the token embedding (`hook_embed`). Its size is
`scale` times the RMS norm of the embedding matrix's rows: with `scale=1` a noise vector is, on
average, as long as a typical token embedding, so the same `scale` means the same disruption in
any model (the seed's per-dimension N(0, 1) noise grew with d_model instead).
The same `draws` noise vectors are used at every position (common random numbers), so
differences between positions are not sampling noise.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import torch

from neurontest.engine.data.tokens import display_tokens, encode, merged_pieces
from neurontest.engine.run.prefix_runs import Variant, last_token_activations
from neurontest.engine.units.protocol import UnitRef, check_units


@dataclass
class NoiseSensitivity:
    """Mean change of the activation at `target` when each real token (BOS excluded) is noised.

    `change[i]` = mean over draws of (activation at target with token i noised) - `clean`.
    Tokens after `target` cannot reach it in a causal model; their change is exactly 0.
    """

    neuron: UnitRef
    text: str
    str_tokens: list[str]
    target: int
    clean: float
    change: list[float]
    pieces: list[str] = field(default_factory=list)  # hover forms of merged byte pieces

    def most_sensitive(self) -> int:
        """Index of the token whose noising lowers the activation most."""
        return min(range(len(self.change)), key=self.change.__getitem__)


def embedding_rms_norm(model: Any) -> float:
    """sqrt(mean_v ||W_E[v]||^2): the typical length of a token embedding.

    Memoised per model: it reads the whole embedding matrix, which costs as much as a short
    noise run. The memo is keyed on the tensor's storage and version, so editing W_E in place
    recomputes it.
    """
    w_e = model.W_E
    key = (w_e.data_ptr(), w_e._version, tuple(w_e.shape))
    memo = _rms_memo.get(model)
    if memo is None or memo[0] != key:
        with torch.inference_mode():
            memo = (key, float(w_e.float().pow(2).sum(-1).mean().sqrt()))
        _rms_memo[model] = memo
    return memo[1]


_rms_memo: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], float]] = weakref.WeakKeyDictionary()


def noise_sensitivity(
    model: Any,
    neuron: UnitRef,
    text: str,
    *,
    target: int = -1,
    scale: float = 1.0,
    draws: int = 8,
    seed: int = 0,
    prepend_bos: bool = True,
    batch_size: int = 512,
) -> NoiseSensitivity:
    """Noise each real token up to `target` (an index into the real tokens) with `draws` draws.

    The (positions x draws + 1 clean) variants are evaluated by `prefix_runs`: each from the
    noised position on, stopped after the neuron's layer; `batch_size` bounds rows per forward.
    """
    check_units(model, [neuron])
    tokenizer = model.tokenizer
    ids = encode(tokenizer, text, prepend_bos=prepend_bos)
    first = 1 if prepend_bos and tokenizer.bos_token_id is not None else 0
    n_real = len(ids) - first
    target = _resolve_target(target, n_real)
    str_tokens = display_tokens(tokenizer, ids[first:])
    pieces = merged_pieces(tokenizer, ids[first:])
    # Later tokens cannot reach the target, so the run stops at it.
    ids = ids[: first + target + 1]
    generator = torch.Generator().manual_seed(seed)
    d_model = model.W_E.shape[1]
    noise = torch.randn(draws, d_model, generator=generator)
    noise = noise * (scale * embedding_rms_norm(model) / d_model**0.5)

    n_pos = target + 1
    # Row 0 is the clean text; then draw d of the noise at real token i, for each i and d.
    clean = tuple(ids)
    variants = [Variant(clean, len(ids))] + [
        Variant(clean, first + i, first + i, noise[d]) for i in range(n_pos) for d in range(draws)
    ]
    acts = last_token_activations(model, neuron, ids, variants, batch_size=batch_size)
    clean_act = float(acts[0])
    mean_change = (acts[1:].view(n_pos, draws) - clean_act).mean(dim=1)
    change = mean_change.tolist() + [0.0] * (n_real - n_pos)
    return NoiseSensitivity(neuron, text, str_tokens, target, clean_act, change, pieces)


def _resolve_target(target: int, n_real: int) -> int:
    if n_real == 0:
        raise ValueError("the text has no tokens")
    if not -n_real <= target < n_real:
        raise ValueError(f"target {target} is out of range for a text of {n_real} tokens")
    return target % n_real
