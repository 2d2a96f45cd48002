"""Shrink a text to the few tokens that keep a neuron firing at one token (greedy deletion).

At each step every candidate with one context token deleted is scored in one batch, and the
candidate that keeps the activation at the target highest survives. The target token is never
deleted. Tokens after the target cannot reach it in a causal model, so they are dropped first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from neurontest.activations import _model_device, check_neurons
from neurontest.neuron import NeuronRef
from neurontest.tokens import bos_id, encode


@dataclass
class SimplificationStep:
    """One stage of the shrinking: its real tokens, the activation at the target (always the
    last token), and the token deleted to reach it (None for the first step)."""

    str_tokens: list[str]
    activation: float
    removed: str | None
    token_ids: list[int] = field(default_factory=list, repr=False)


@dataclass
class Simplification:
    """Every step from the (truncated) original text down to `min_tokens` tokens."""

    neuron: NeuronRef
    text: str
    steps: list[SimplificationStep]

    @property
    def original(self) -> float:
        return self.steps[0].activation

    def minimal(self, keep_share: float = 0.5) -> SimplificationStep:
        """The shortest step whose activation is still >= `keep_share` x the original's.

        The first step is returned when no shorter one qualifies.
        """
        threshold = keep_share * self.original
        kept = [s for s in self.steps if s.activation >= threshold]
        return min(kept, key=lambda s: len(s.str_tokens)) if kept else self.steps[0]


def simplify(
    model: Any,
    neuron: NeuronRef,
    text: str,
    *,
    target: int = -1,
    min_tokens: int = 1,
    prepend_bos: bool = True,
    batch_size: int = 64,
) -> Simplification:
    """Greedily delete tokens of `text` while keeping `neuron`'s activation at `target` high.

    `target` indexes the real tokens (BOS excluded). Each step costs one forward of all its
    candidates (equal lengths, so no padding), stopped after the neuron's layer.
    """
    import torch

    check_neurons(model, [neuron])
    if min_tokens < 1:
        raise ValueError("min_tokens must be at least 1 (the target token)")
    tokenizer = model.tokenizer
    ids = encode(tokenizer, text, prepend_bos=False)
    if not ids:
        raise ValueError("the text has no tokens")
    if not -len(ids) <= target < len(ids):
        raise ValueError(f"target {target} is out of range for a text of {len(ids)} tokens")
    ids = ids[: target % len(ids) + 1]
    prefix = [bos_id(tokenizer)] if prepend_bos and bos_id(tokenizer) is not None else []

    def decode(row: Sequence[int]) -> list[str]:
        return [tokenizer.decode([i]) for i in row]

    first = _last_activations(model, neuron, [prefix + ids], batch_size)
    steps = [SimplificationStep(decode(ids), float(first[0]), None, list(ids))]
    while len(ids) > min_tokens:
        # Candidate j deletes token j; the target (last) token is never a candidate.
        candidates = [ids[:j] + ids[j + 1 :] for j in range(len(ids) - 1)]
        acts = _last_activations(model, neuron, [prefix + c for c in candidates], batch_size)
        best = int(torch.argmax(acts))
        removed = tokenizer.decode([ids[best]])
        ids = candidates[best]
        steps.append(SimplificationStep(decode(ids), float(acts[best]), removed, list(ids)))
    return Simplification(neuron, text, steps)


def _last_activations(
    model: Any, neuron: NeuronRef, rows: list[list[int]], batch_size: int
) -> Any:
    """The neuron's activation at the last position of each (equal-length) row."""
    import torch

    device = _model_device(model)
    tokens = torch.tensor(rows, device=device)
    out: list[torch.Tensor] = []

    def capture(value: torch.Tensor, hook: Any = None) -> None:
        out.append(value[:, -1, neuron.index].float().cpu())

    n_layers = int(model.cfg.n_layers)
    stop = neuron.layer + 1 if neuron.layer + 1 < n_layers else None
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            model.run_with_hooks(
                tokens[start : start + batch_size],
                fwd_hooks=[(neuron.hook_name, capture)],
                stop_at_layer=stop,
            )
    return torch.cat(out)
