"""Which input tokens matter to a neuron at one position: noise each token's embedding in turn.

Noise is Gaussian, added to the output of the token embedding (`hook_embed`). Its size is
`scale` times the RMS norm of the embedding matrix's rows: with `scale=1` a noise vector is, on
average, as long as a typical token embedding, so the same `scale` means the same disruption in
any model (the seed's per-dimension N(0, 1) noise grew with d_model instead).
The same `draws` noise vectors are used at every position (common random numbers), so
differences between positions are not sampling noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neurontest.activations import _model_device, check_neurons
from neurontest.neuron import NeuronRef
from neurontest.tokens import encode


@dataclass
class NoiseSensitivity:
    """Mean change of the activation at `target` when each real token (BOS excluded) is noised.

    `change[i]` = mean over draws of (activation at target with token i noised) - `clean`.
    Tokens after `target` cannot reach it in a causal model; their change is exactly 0.
    """

    neuron: NeuronRef
    text: str
    str_tokens: list[str]
    target: int
    clean: float
    change: list[float]

    def most_sensitive(self) -> int:
        """Index of the token whose noising lowers the activation most."""
        return min(range(len(self.change)), key=self.change.__getitem__)


def embedding_rms_norm(model: Any) -> float:
    """sqrt(mean_v ||W_E[v]||^2): the typical length of a token embedding."""
    import torch

    with torch.inference_mode():
        return float(model.W_E.float().pow(2).sum(-1).mean().sqrt())


def noise_sensitivity(
    model: Any,
    neuron: NeuronRef,
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

    One batched forward of (positions x draws + 1 clean) rows, stopped after the neuron's layer;
    `batch_size` only splits it when that would not fit in memory.
    """
    import torch

    check_neurons(model, [neuron])
    tokenizer = model.tokenizer
    ids = encode(tokenizer, text, prepend_bos=prepend_bos)
    first = 1 if prepend_bos and tokenizer.bos_token_id is not None else 0
    n_real = len(ids) - first
    target = _resolve_target(target, n_real)
    str_tokens = [tokenizer.decode([i]) for i in ids[first:]]
    # Later tokens cannot reach the target, so the run stops at it.
    ids = ids[: first + target + 1]
    device = _model_device(model)
    generator = torch.Generator().manual_seed(seed)
    d_model = model.W_E.shape[1]
    noise = torch.randn(draws, d_model, generator=generator)
    noise = noise * (scale * embedding_rms_norm(model) / d_model**0.5)

    n_pos = target + 1
    # Row 0 stays clean; row 1 + i * draws + d carries draw d at real token i.
    delta = torch.zeros(1 + n_pos * draws, len(ids), d_model)
    rows = torch.arange(n_pos * draws) + 1
    positions = torch.arange(n_pos).repeat_interleave(draws) + first
    delta[rows, positions] = noise.repeat(n_pos, 1)
    with torch.inference_mode():
        tokens = torch.tensor([ids], device=device)
        acts = _activation_at(model, neuron, tokens, delta, first + target, batch_size)
    clean = float(acts[0])
    mean_change = (acts[1:].view(n_pos, draws) - clean).mean(dim=1)
    change = mean_change.tolist() + [0.0] * (n_real - n_pos)
    return NoiseSensitivity(neuron, text, str_tokens, target, clean, change)


def _activation_at(
    model: Any, neuron: NeuronRef, tokens: Any, delta: Any, position: int, batch_size: int
) -> Any:
    """The neuron's activation at `position` for each row of `delta` added to the embeddings."""
    import torch

    out: list[torch.Tensor] = []
    for start in range(0, delta.shape[0], batch_size):
        chunk = delta[start : start + batch_size]
        sink: dict[str, torch.Tensor] = {}

        def add_noise(value: torch.Tensor, hook: Any = None, chunk: torch.Tensor = chunk) -> torch.Tensor:
            return value + chunk.to(value.device, value.dtype)

        def capture(value: torch.Tensor, hook: Any = None) -> None:
            sink["a"] = value[:, position, neuron.index].float().cpu()

        model.run_with_hooks(
            tokens.expand(chunk.shape[0], -1),
            fwd_hooks=[("hook_embed", add_noise), (neuron.hook_name, capture)],
            stop_at_layer=_stop(model, neuron.layer),
        )
        out.append(sink["a"])
    return torch.cat(out)


def _stop(model: Any, layer: int) -> int | None:
    return layer + 1 if layer + 1 < int(model.cfg.n_layers) else None


def _resolve_target(target: int, n_real: int) -> int:
    if n_real == 0:
        raise ValueError("the text has no tokens")
    if not -n_real <= target < n_real:
        raise ValueError(f"target {target} is out of range for a text of {n_real} tokens")
    return target % n_real
