"""The seed notebook's loops, re-implemented on a TransformerBridge as benchmark references.

`neurontest bench` times these against the library. They follow the seed's algorithms (and its
costs) step for step; only the calls are adapted to the bridge. Nothing in neurontest uses them.

- `seed_mine`: the seed's corpus loop: `run_with_cache` of every hook on the full model for each
  batch, copying the whole `hook_post` layer into a `[tokens, d_mlp]` buffer (one per layer asked).
- `seed_noise`: `NeuronTextSimplifier.add_noise_to_text`: one forward per position, one noise draw,
  run through blocks 0..layer (the seed's `model_no_embed`), the target being the last token.
- `seed_simplify`: `get_text_and_activations_iteratively`: at each step one full-model
  `run_with_cache` per candidate deletion (every token, the last included), plus one for the
  survivor, until one token is left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch

from neurontest.engine.data.tokens import encode
from neurontest.engine.run.activations import _model_device
from neurontest.engine.units.neuron import NeuronRef

if TYPE_CHECKING:

    from neurontest.engine.data.tokens import TokenBatch


def seed_mine(
    model: Any, batch: TokenBatch, neurons: Sequence[NeuronRef], *, batch_size: int = 32
) -> dict[NeuronRef, torch.Tensor]:
    """`[rows, pos]` activations of each neuron, mined the seed's way (whole layers kept)."""
    rows, width = batch.tokens.shape
    d_mlp = int(model.cfg.d_mlp)
    # The seed: neuron_activations = th.zeros((datapoints * Token_amount, neurons)), per layer.
    buffers = {layer: torch.zeros(rows * width, d_mlp) for layer in sorted({n.layer for n in neurons})}
    device = _model_device(model)
    with torch.no_grad():
        for start in range(0, rows, batch_size):
            chunk = batch.tokens[start : start + batch_size]
            _, cache = model.run_with_cache(chunk.to(device))
            span = slice(start * width, (start + len(chunk)) * width)
            for layer, buffer in buffers.items():
                buffer[span] = cache[f"blocks.{layer}.mlp.hook_post"].reshape(-1, d_mlp).cpu()
            del cache
    return {n: buffers[n.layer][:, n.index].reshape(rows, width).clone() for n in neurons}


def seed_noise(
    model: Any, neuron: NeuronRef, text: str, *, noise_level: float = 1.0, seed: int = 0
) -> list[float]:
    """Change of the last token's activation when each token in turn gets one noise vector."""
    ids = encode(model.tokenizer, text, prepend_bos=False)  # the seed: prepend_bos=False
    tokens = torch.tensor([ids], device=_model_device(model))
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(1, int(model.cfg.d_model), generator=generator) * noise_level
    stop = neuron.layer + 1 if neuron.layer + 1 < int(model.cfg.n_layers) else None

    def last_activation(position: int | None) -> float:
        out: list[float] = []

        def add_noise(value: torch.Tensor, hook: Any = None) -> torch.Tensor:
            value = value.clone()
            value[:, position, :] += noise.to(value.device, value.dtype)
            return value

        def capture(value: torch.Tensor, hook: Any = None) -> None:
            out.append(value[0, -1, neuron.index].item())  # the seed's .item() per position

        hooks = [(neuron.hook_name, capture)]
        if position is not None:
            hooks.insert(0, ("hook_embed", add_noise))
        model.run_with_hooks(tokens, fwd_hooks=hooks, stop_at_layer=stop)
        return out[0]

    with torch.no_grad():
        original = last_activation(None)
        return [last_activation(i) - original for i in range(len(ids))]


def seed_simplify(model: Any, neuron: NeuronRef, text: str) -> list[tuple[list[int], float]]:
    """(token ids, activation at the last token) after each greedy deletion, down to one token."""
    device = _model_device(model)

    def activations(ids: list[int]) -> list[float]:
        # The seed's get_neuron_activation: run_with_cache of everything, full model.
        _, cache = model.run_with_cache(torch.tensor([ids], device=device))
        return cache[neuron.hook_name][0, :, neuron.index].tolist()

    ids = encode(model.tokenizer, text, prepend_bos=False)
    with torch.no_grad():
        steps = [(list(ids), activations(ids)[-1])]
        for _ in range(len(ids) - 1):
            changes = [activations(ids[:i] + ids[i + 1 :])[-1] for i in range(len(ids))]
            best = max(range(len(changes)), key=changes.__getitem__)
            ids = ids[:best] + ids[best + 1 :]
            steps.append((list(ids), activations(ids)[-1]))
    return steps
