"""Search for short prompts that make a neuron fire at their last token (as in the seed notebook).

Each prompt is a continuous embedding optimised with Adam. Every step it is projected to the
nearest real tokens (cosine similarity to the embedding matrix), the forward runs on those real
token embeddings, and the gradient taken there is applied to the continuous embedding (a
straight-through estimate). So every activation seen during the search is one of real tokens.
The `n_prompts` prompts are optimised together in one batch; the diversity penalty, which in the
seed pushed each prompt away from earlier ones, here pushes each away from the others in the
batch: the mean cosine similarity of their projected embeddings, position by position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from neurontest.engine.data.tokens import bos_id, display_tokens, encode
from neurontest.engine.run.activations import _model_device
from neurontest.engine.units.protocol import UnitRef, check_units, read_activations


@dataclass
class OptimizedPrompt:
    """A found prompt (BOS excluded; prefix and suffix included) and the neuron's activation at
    its last token, measured by a plain forward on `token_ids` (with BOS when one was used)."""

    text: str
    str_tokens: list[str]
    token_ids: list[int]
    activation: float


def optimize_prompts(
    model: Any,
    neuron: UnitRef,
    *,
    n_prompts: int = 4,
    length: int = 6,
    steps: int = 60,
    patience: int = 20,
    lr: float = 0.8,
    diversity: float = 1.0,
    seed: int = 0,
    prefix: str | None = None,
    suffix: str | None = None,
    prepend_bos: bool = True,
) -> list[OptimizedPrompt]:
    """Optimise `n_prompts` prompts of `length` free tokens to maximise `neuron` at the last token.

    `prefix` / `suffix` are fixed texts placed before / after the free tokens (the seed's
    insert_words_and_pos); with a suffix the activation is read at the suffix's last token.
    Stops after `steps` steps, or once no prompt has improved for `patience` steps. Special
    tokens are never proposed. Results are sorted by activation, highest first.
    """
    check_units(model, [neuron])
    if n_prompts < 1 or length < 1:
        raise ValueError("n_prompts and length must be at least 1")
    tokenizer = model.tokenizer
    device = _model_device(model)
    bos = [bos_id(tokenizer)] if prepend_bos and bos_id(tokenizer) is not None else []
    head = bos + (encode(tokenizer, prefix, prepend_bos=False) if prefix else [])
    tail = encode(tokenizer, suffix, prepend_bos=False) if suffix else []
    n_head = len(head)

    embed = model.W_E.detach().float()
    unit = torch.nn.functional.normalize(embed, dim=-1)
    banned = torch.zeros(embed.shape[0], dtype=torch.bool, device=embed.device)
    banned[[i for i in tokenizer.all_special_ids if i < embed.shape[0]]] = True

    def project(continuous: torch.Tensor) -> torch.Tensor:
        sims = torch.nn.functional.normalize(continuous, dim=-1) @ unit.T
        return sims.masked_fill(banned, float("-inf")).argmax(-1)

    generator = torch.Generator().manual_seed(seed)
    allowed = (~banned).nonzero().flatten().cpu()
    start = allowed[torch.randint(len(allowed), (n_prompts, length), generator=generator)]
    continuous = embed[start.to(embed.device)].clone().requires_grad_(True)
    optimizer = torch.optim.Adam([continuous], lr=lr)
    best = torch.full((n_prompts,), float("-inf"))
    best_ids = start.clone()
    stale = torch.zeros(n_prompts, dtype=torch.long)
    off_diagonal = ~torch.eye(n_prompts, dtype=torch.bool, device=embed.device)

    with torch.inference_mode(False), torch.enable_grad():
        for _ in range(steps):
            ids = project(continuous.detach())
            projected = embed[ids].clone().requires_grad_(True)
            tokens = torch.tensor(head, dtype=torch.long).expand(n_prompts, -1).to(device)
            tokens = torch.cat([tokens, ids.to(device), _fixed(tail, n_prompts, device)], dim=1)
            act = _last_activation(model, neuron, tokens, projected, n_head)
            loss = -act.sum()
            if n_prompts > 1 and diversity:
                unit_p = torch.nn.functional.normalize(projected, dim=-1)
                sims = torch.einsum("ipd,jpd->ijp", unit_p, unit_p)
                loss = loss + diversity * sims[off_diagonal].mean(-1).sum() / (n_prompts - 1)
            (grad,) = torch.autograd.grad(loss, [projected])
            # Straight-through: the gradient at the real tokens moves the continuous prompt.
            continuous.grad = grad
            optimizer.step()
            optimizer.zero_grad()

            values = act.detach().float().cpu()
            improved = values > best
            best = torch.where(improved, values, best)
            best_ids[improved] = ids.cpu()[improved]
            stale = torch.where(improved, torch.zeros_like(stale), stale + 1)
            if bool((stale >= patience).all()):
                break

    rows = [head + row + tail for row in best_ids.tolist()]
    measured = _plain_last_activation(model, neuron, rows)
    found = []
    for row, value in zip(rows, measured.tolist()):
        ids = row[len(bos):]
        found.append(
            OptimizedPrompt(tokenizer.decode(ids), display_tokens(tokenizer, ids), ids, value)
        )
    return sorted(found, key=lambda p: p.activation, reverse=True)


def _fixed(ids: list[int], n: int, device: Any) -> Any:
    return torch.tensor(ids, dtype=torch.long).reshape(1, -1).expand(n, -1).to(device)


def _stop(model: Any, neuron: UnitRef) -> int | None:
    return neuron.layer + 1 if neuron.layer + 1 < int(model.cfg.n_layers) else None


def _last_activation(
    model: Any, neuron: UnitRef, tokens: Any, projected: Any, offset: int
) -> Any:
    """Activation at the last position, with `projected` spliced into the embeddings at `offset`."""
    sink: dict[str, torch.Tensor] = {}
    end = offset + projected.shape[1]

    def splice(value: torch.Tensor, hook: Any = None) -> torch.Tensor:
        inner = projected.to(value.device, value.dtype)
        return torch.cat([value[:, :offset], inner, value[:, end:]], dim=1)

    read = read_activations(model, neuron)

    def capture(value: torch.Tensor, hook: Any = None) -> None:
        sink["a"] = read(value[:, -1:])[:, 0]

    model.run_with_hooks(
        tokens, fwd_hooks=[("hook_embed", splice), (neuron.hook_name, capture)],
        stop_at_layer=_stop(model, neuron),
    )
    return sink["a"]


def _plain_last_activation(model: Any, neuron: UnitRef, rows: list[list[int]]) -> Any:
    sink: dict[str, torch.Tensor] = {}

    read = read_activations(model, neuron)

    def capture(value: torch.Tensor, hook: Any = None) -> None:
        sink["a"] = read(value[:, -1:])[:, 0].float().cpu()

    with torch.inference_mode():
        model.run_with_hooks(
            torch.tensor(rows, device=_model_device(model)),
            fwd_hooks=[(neuron.hook_name, capture)], stop_at_layer=_stop(model, neuron),
        )
    return sink["a"]
