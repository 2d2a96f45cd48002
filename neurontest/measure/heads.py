"""Scanning attention heads for known patterns: where each head's attention mass goes.

    scores = scan_heads(model, sample.batch)              # one forward, every layer and head
    best = top_heads(scores, "previous_token", 5)

For every head, the mean share of attention (over query positions where the pattern can apply)
that lands on the positions a pattern names:

- `previous_token`: key = query - 1 (queries from position 2 on, so the key is never BOS);
- `first_token`: key = 0, the BOS attention sink (queries from position 1 on);
- `duplicate_token`: earlier positions holding the query's own token (queries whose token
  occurred before in the window);
- `induction`: the positions just after earlier occurrences of the query's token (same queries,
  excluding an occurrence right before the query, where induction and previous-token coincide).

Padding is never a query; right padding is never a key of a real query (causal masking).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:

    from neurontest.engine.data.tokens import TokenBatch

PATTERNS = ("previous_token", "first_token", "duplicate_token", "induction")


@dataclass(frozen=True)
class HeadScore:
    """One head's mean attention mass on one pattern's positions, over `queries` queries."""

    layer: int
    head: int
    pattern: str
    mass: float
    queries: int

    @property
    def id(self) -> str:
        return f"L{self.layer}H{self.head}"


def pattern_masks(tokens: torch.Tensor, mask: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """For each pattern, (key mask `[batch, q, k]`, query mask `[batch, q]`): which keys the
    pattern names for each query, and which queries it applies to. `mask` marks real
    (non-BOS, non-pad) tokens."""
    b, n = tokens.shape
    q_idx = torch.arange(n).view(1, n, 1)
    k_idx = torch.arange(n).view(1, 1, n)
    real_q = mask.view(b, n, 1)
    real_k = mask.view(b, 1, n)
    causal_before = k_idx < q_idx
    same = (tokens.view(b, n, 1) == tokens.view(b, 1, n)) & causal_before & real_q & real_k
    prev = (k_idx == q_idx - 1) & real_q & real_k
    first = (k_idx == 0) & real_q
    # Induction: key j+1 where tokens[j] == tokens[q], j+1 < q (j+1 == q is the query itself).
    after_same = torch.zeros_like(same)
    after_same[:, :, 1:] = same[:, :, :-1]
    after_same &= (k_idx < q_idx) & real_k
    induct = after_same & ~prev
    has_dup = same.any(dim=2)
    return {
        "previous_token": (prev, prev.any(dim=2)),
        "first_token": (first.expand(b, n, n), mask.clone()),
        "duplicate_token": (same, has_dup),
        "induction": (induct, induct.any(dim=2)),
    }


def scan_heads(model: Any, batch: TokenBatch, *, layers: list[int] | None = None,
               batch_size: int = 16) -> list[HeadScore]:
    """Every head's mean mass on each pattern over the batch's real query positions, from one
    forward pass per chunk of rows (stopping after the deepest scanned layer)."""
    n_layers = int(model.cfg.n_layers)
    layers = list(range(n_layers)) if layers is None else sorted(set(layers))
    sums: dict[tuple[int, str], torch.Tensor] = {}
    counts: dict[str, int] = dict.fromkeys(PATTERNS, 0)
    current: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def make_hook(layer: int) -> Any:
        def hook(pattern: torch.Tensor, hook: Any = None) -> None:
            p = pattern.detach().float().cpu()  # [batch, head, q, k]
            for name, (keys, queries) in current.items():
                mass = (p * keys.unsqueeze(1)).sum(dim=-1)  # [batch, head, q]
                total = (mass * queries.unsqueeze(1)).sum(dim=(0, 2))
                sums[(layer, name)] = sums.get((layer, name), torch.zeros_like(total)) + total
        return hook

    hooks = [(f"blocks.{layer}.attn.hook_pattern", make_hook(layer)) for layer in layers]
    stop = max(layers) + 1
    with torch.inference_mode():
        for start in range(0, len(batch), batch_size):
            tokens = batch.tokens[start:start + batch_size]
            width = int(batch.lengths[start:start + batch_size].max())
            tokens, mask = tokens[:, :width], batch.mask[start:start + batch_size, :width]
            current.clear()
            current.update(pattern_masks(tokens, mask))
            for name, (_, queries) in current.items():
                counts[name] += int(queries.sum())
            model.run_with_hooks(tokens, fwd_hooks=hooks,
                                 stop_at_layer=stop if stop < n_layers else None)
    return [HeadScore(layer, head, name, float(sums[(layer, name)][head]) / max(counts[name], 1),
                      counts[name])
            for layer in layers for name in PATTERNS
            for head in range(len(sums[(layer, name)]))]


def top_heads(scores: list[HeadScore], pattern: str, n: int = 5) -> list[HeadScore]:
    """The `n` heads with the most mass on `pattern`'s positions."""
    if pattern not in PATTERNS:
        raise ValueError(f"unknown pattern {pattern!r}; choose one of {', '.join(PATTERNS)}")
    return sorted((s for s in scores if s.pattern == pattern), key=lambda s: -s.mass)[:n]
