"""Attribution patching: a first-order estimate of every neuron's and head's denoising patch at
once, to choose which units to write `patching` claims about (Nanda 2023, Syed et al. 2023).

For a unit with value a (a neuron's activation, a head's z), patching its clean value into the
corrupt run moves the target by about (a_clean - a_corrupt) . d target / d a, the gradient taken
on the corrupt run. Two forwards and one backward price every unit of the model; the estimate is
linear, so a claim must still be measured by patching (the printed drafts do that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from neurontest.engine.data.tokens import encode_texts, single_token_id
from neurontest.engine.run.activations import _model_device
from neurontest.engine.units.head import HeadRef
from neurontest.engine.units.neuron import NeuronRef, mlp_post_hook
from neurontest.measure.patching import read_position
from neurontest.measure.targets import Target, target_series


@dataclass(frozen=True)
class Attribution:
    """A unit's estimated effect of a denoising patch on the target (mean over pairs), and that
    as a share of the mean clean - corrupt difference."""

    unit: Any
    effect: float
    share: float


def attribution_patching(model: Any, clean: Sequence[str], corrupt: Sequence[str], target: Target, *,
                         positions: Sequence[Sequence[int]] | None = None, neurons: bool = True,
                         heads: bool = True, batch_size: int = 16) -> list[Attribution]:
    """Every MLP neuron's and attention head's estimated patch effect, largest |effect| first.
    `positions[i]` (real-token indices) limit pair i's patch to those positions."""
    target.check(model.tokenizer)
    n_layers = int(model.cfg.n_layers)
    points = ([mlp_post_hook(layer) for layer in range(n_layers)] if neurons else []) + \
             ([f"blocks.{layer}.attn.hook_z" for layer in range(n_layers)] if heads else [])
    if not points:
        raise ValueError("nothing to screen: ask for neurons, heads or both")
    clean_batch, corrupt_batch = encode_texts(model.tokenizer, clean), encode_texts(model.tokenizer, corrupt)
    if clean_batch.lengths.tolist() != corrupt_batch.lengths.tolist():
        raise ValueError("every pair must tokenize to the same length")
    first = int(clean_batch.has_bos)
    device = _model_device(model)
    totals: dict[str, torch.Tensor] = {}
    diff_sum = 0.0
    for start in range(0, len(clean), batch_size):
        rows = list(range(start, min(start + batch_size, len(clean))))
        width = int(clean_batch.lengths[rows].max())
        c_tokens = clean_batch.tokens[rows, :width].to(device)
        x_tokens = corrupt_batch.tokens[rows, :width].to(device)
        weight = torch.zeros((len(rows), width))  # which positions each pair patches
        cols = []
        for r, i in enumerate(rows):
            n = int(clean_batch.lengths[i])
            marked = [first + p for p in (positions[i] if positions else [])]
            weight[r, marked or list(range(first, n))] = 1.0
            cols.append(first + read_position(n - first, target))
        clean_acts: dict[str, torch.Tensor] = {}

        # Hooks are keyed by the point asked for: a bridge may report an alias as `hook.name`.
        def keep(name: str) -> Any:
            def hook(value: torch.Tensor, hook: Any = None) -> None:
                clean_acts[name] = value.detach()
            return hook

        with torch.inference_mode():
            clean_logits = model.run_with_hooks(c_tokens, fwd_hooks=[(p, keep(p)) for p in points])
        corrupt_acts: dict[str, torch.Tensor] = {}

        def start_graph(value: torch.Tensor, hook: Any = None) -> torch.Tensor:
            return value.detach().clone().requires_grad_(True)

        def track(name: str) -> Any:
            def hook(value: torch.Tensor, hook: Any = None) -> torch.Tensor:
                # a fresh node that the run goes on from, so its gradient is the one downstream
                value = value * 1.0
                value.retain_grad()
                corrupt_acts[name] = value
                return value
            return hook

        with torch.enable_grad():
            logits = model.run_with_hooks(
                x_tokens, fwd_hooks=[("blocks.0.hook_resid_pre", start_graph)] + [(p, track(p)) for p in points])
            read = target_series(model.tokenizer, target, logits.detach(), c_tokens.cpu())
            live = _read_live(target, logits, c_tokens, model.tokenizer)
            picked = torch.stack([live[r, c] for r, c in enumerate(cols)])
            picked.sum().backward()
        clean_read = target_series(model.tokenizer, target, clean_logits, c_tokens.cpu())
        diff_sum += float(sum(clean_read[r, c] - read[r, c] for r, c in enumerate(cols)))
        for name in points:
            a = corrupt_acts[name]
            grad = a.grad if a.grad is not None else torch.zeros_like(a)
            delta = (clean_acts[name].to(a.dtype) - a.detach()) * grad
            w = weight.to(delta.device, delta.dtype)
            # [batch, pos, d_mlp] -> [d_mlp]; [batch, pos, heads, d_head] -> [heads]
            per_unit = (delta.sum(-1) * w[..., None]).sum((0, 1)) if delta.dim() == 4 else \
                (delta * w[..., None]).sum((0, 1))
            totals[name] = totals.get(name, 0) + per_unit.float().cpu()
    n_pairs = len(clean)
    mean_diff = diff_sum / n_pairs
    out = []
    for name, scores in totals.items():
        layer = int(name.split(".")[1])
        for index, value in enumerate((scores / n_pairs).tolist()):
            unit = HeadRef(layer, index) if name.endswith("hook_z") else NeuronRef(layer, index)
            out.append(Attribution(unit, value, value / mean_diff if mean_diff else float("nan")))
    return sorted(out, key=lambda a: -abs(a.effect))


def _read_live(target: Target, logits: Any, labels: Any, tokenizer: Any) -> Any:
    """`target_series` without leaving the graph (for the backward pass)."""
    logits = logits.float()
    if target.answer is not None:
        a, f = single_token_id(tokenizer, target.answer), single_token_id(tokenizer, target.foil or "")
        return logits[..., a] - logits[..., f]
    logp = logits.log_softmax(-1)
    if target.token is not None:
        return logp[..., single_token_id(tokenizer, target.token)]
    nxt = logp[:, :-1].gather(-1, labels[:, 1:, None])[..., 0]
    return __import__("torch").cat([nxt, nxt[:, -1:] * 0], dim=1)
