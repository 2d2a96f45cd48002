"""Greedy token substitution: texts that make a neuron fire at their last token where a
predicate says it should not (the search behind the `adversarial` claim).

Each step tries, for every current text, `candidates` single-token substitutions in one batched
forward pass: half proposed by the gradient at the token embeddings (the first-order estimate of
GCG, Zou et al. 2023), half at random. A text keeps its best candidate if it beats it; a
candidate counts only where the predicate is false at the last token, so the search climbs
towards firing off the claimed set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import torch

from neurontest.engine.data.tokens import batch_from_ids, bos_id
from neurontest.engine.run.activations import _model_device, neuron_activations
from neurontest.measure.optimize import _last_activation

if TYPE_CHECKING:
    from neurontest.claims.predicates import Predicate, Vocabulary
    from neurontest.engine.units.protocol import UnitRef


@dataclass
class Attempt:
    """A text (ids without BOS) and the activation at its last token."""

    ids: list[int]
    activation: float
    predicate_holds: bool
    method: str


@dataclass
class SubstitutionResult:
    best_off: Attempt | None  # highest activation with the predicate false at the last token
    final: list[Attempt] = field(default_factory=list)
    steps: int = 0


def last_token_scores(model: Any, neuron: UnitRef, predicate: Predicate, vocab: Vocabulary,
                      rows: Sequence[Sequence[int]], *, batch_size: int = 256) -> tuple[Any, Any]:
    """(activation at the last token, predicate at the last token) for equal-length id rows."""
    bos = bos_id(vocab.tokenizer)
    head = [] if bos is None else [bos]
    batch = batch_from_ids([head + list(r) for r in rows], vocab.tokenizer, has_bos=bool(head))
    acts = neuron_activations(model, batch, [neuron], batch_size=batch_size)[neuron]
    holds = predicate.mask(batch, vocab)
    last = batch.lengths - 1
    index = range(len(rows))
    return acts[index, last], holds[index, last]


def substitution_search(
    model: Any,
    neuron: UnitRef,
    predicate: Predicate,
    vocab: Vocabulary,
    starts: Sequence[Sequence[int]],
    *,
    allowed: torch.Tensor,
    last_allowed: torch.Tensor,
    steps: int = 60,
    candidates: int = 64,
    seed: int = 0,
    stop_above: float | None = None,
    batch_size: int = 256,
) -> SubstitutionResult:
    """Greedy substitution from `starts` (equal-length id lists, BOS excluded); `allowed` /
    `last_allowed` are bool masks over the vocabulary of tokens that may be put anywhere / at
    the last position. Stops after `steps` steps, or once an off-predicate activation exceeds
    `stop_above`."""
    generator = torch.Generator().manual_seed(seed)
    current = torch.tensor([list(s) for s in starts], dtype=torch.long)
    n, length = current.shape
    pools = [allowed.nonzero().flatten(), last_allowed.nonzero().flatten()]
    acts, holds = last_token_scores(model, neuron, predicate, vocab, current.tolist(),
                                    batch_size=batch_size)
    score = acts.masked_fill(holds, float("-inf"))
    result = SubstitutionResult(None)
    _note_best(result, current, acts, holds, "substitute")
    for step in range(steps):
        if stop_above is not None and result.best_off and result.best_off.activation > stop_above:
            break
        result.steps = step + 1
        proposals = _proposals(model, neuron, current, allowed, last_allowed, pools, candidates,
                               generator)  # [n, k, length]
        rows = proposals.reshape(-1, length)
        acts, holds = last_token_scores(model, neuron, predicate, vocab, rows.tolist(),
                                        batch_size=batch_size)
        _note_best(result, rows, acts, holds, "substitute")
        cand = acts.masked_fill(holds, float("-inf")).view(n, -1)
        best, which = cand.max(dim=1)
        better = best > score
        current[better] = proposals[better, which[better]]
        score = torch.where(better, best, score)
    acts, holds = last_token_scores(model, neuron, predicate, vocab, current.tolist(),
                                    batch_size=batch_size)
    result.final = [Attempt(r, float(a), bool(h), "substitute")
                    for r, a, h in zip(current.tolist(), acts.tolist(), holds.tolist())]
    return result


def _note_best(result: SubstitutionResult, rows: Any, acts: Any, holds: Any, method: str) -> None:
    off = acts.masked_fill(holds, float("-inf"))
    i = int(off.argmax())
    if bool(holds[i]):
        return
    if result.best_off is None or float(off[i]) > result.best_off.activation:
        result.best_off = Attempt(rows[i].tolist(), float(off[i]), False, method)


def _proposals(model: Any, neuron: UnitRef, current: Any, allowed: Any, last_allowed: Any,
               pools: list[Any], k: int, generator: Any) -> Any:
    """`k` one-token variants of each text: half by gradient, half at random."""
    n, length = current.shape
    grads = _embedding_gradient(model, neuron, current)  # [n, length, d]
    embed = model.W_E.detach().float().cpu()
    gain = grads @ embed.T  # [n, length, vocab]: first-order change of the activation
    gain = gain - gain.gather(2, current.unsqueeze(-1))
    mask = allowed[: gain.shape[-1]].expand(n, length, -1).clone()
    mask[:, -1] = last_allowed[: gain.shape[-1]]
    gain = gain.masked_fill(~mask, float("-inf")).reshape(n, -1)
    n_grad = k // 2
    top = gain.topk(n_grad, dim=1).indices  # flat (position, token) pairs
    pos_g, tok_g = top // mask.shape[-1], top % mask.shape[-1]
    n_rand = k - n_grad
    pos_r = torch.randint(length, (n, n_rand), generator=generator)
    pos_r[:, : n_rand // 2] = length - 1  # the firing position is where the claim is decided
    tok_r = torch.empty_like(pos_r)
    for pool, at_last in ((pools[1], True), (pools[0], False)):
        where = (pos_r == length - 1) == at_last
        tok_r[where] = pool[torch.randint(len(pool), (int(where.sum()),), generator=generator)]
    positions = torch.cat([pos_g, pos_r], dim=1)
    tokens = torch.cat([tok_g, tok_r], dim=1)
    out = current.unsqueeze(1).repeat(1, k, 1)
    out.scatter_(2, positions.unsqueeze(-1), tokens.unsqueeze(-1))
    return out


def _embedding_gradient(model: Any, neuron: UnitRef, current: Any) -> Any:
    """d(activation at the last token) / d(token embeddings), for each text."""
    bos = bos_id(model.tokenizer)
    head = [] if bos is None else [bos]
    device = _model_device(model)
    tokens = torch.cat([torch.tensor(head, dtype=torch.long).expand(len(current), -1), current], 1)
    with torch.inference_mode(False), torch.enable_grad():
        embeds = model.W_E.detach()[current.to(device)].clone().requires_grad_(True)
        act = _last_activation(model, neuron, tokens.to(device), embeds, len(head))
        (grad,) = torch.autograd.grad(act.sum(), [embeds])
    return grad.float().cpu()
