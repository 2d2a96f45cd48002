"""Unit matching across checkpoints: which unit of model B does what unit U of model A does?

Fine-tunes and re-trainings may permute (or slightly move) neurons and heads, so a claim about
`L1N298` of one checkpoint is tested on B's best match. The match is the unit of B of the same
kind whose activations correlate best (Pearson, pooled over every scorable corpus token) with
A's unit, on the same token ids (both models must share a tokenizer). Candidates:

* an MLP neuron: every neuron of its layer (or of `layers`);
* an attention head: every head of its layer (or of `layers`), by output norm;
* an SAE latent: every latent of the same SAE, read on B's activations at its hook (the SAE
  was fitted to A; its latents are the dictionary B is read through);
* a direction: itself (a fixed vector has no counterpart to search for; it is read on B as is).

Cost: one forward pass of B over A's corpus windows, stopping after the deepest searched layer.
Only running sums are kept (sum b, sum b^2, sum a*b per candidate), never a whole layer's
activations, so memory is O(candidates) whatever the corpus size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import torch

from neurontest.engine.progress import progress_task
from neurontest.engine.run.batching import fit_batch_size
from neurontest.engine.units.direction import DirectionUnit
from neurontest.engine.units.head import HeadRef
from neurontest.engine.units.neuron import NeuronRef
from neurontest.engine.units.protocol import stop_layer
from neurontest.engine.units.sae_latent import SaeLatent
from neurontest.errors import TokenizerMismatchError


class MinedModel(Protocol):
    """What matching reads of a model with its corpus (a `neurontest.lab.Lab` is one): the
    model, its tokenizer and batch size, and the reference units' mined activations."""

    model: Any
    batch_size: int | None

    @property
    def tokenizer(self) -> Any: ...
    @property
    def sample(self) -> Any: ...
    def prepare(self, units: Sequence[Any]) -> None: ...
    def activations(self, unit: Any) -> torch.Tensor: ...


@dataclass(frozen=True)
class NeuronMatch:
    """B's best match for A's unit (a neuron, head, latent or direction), with the Pearson
    correlation of their activations."""

    neuron_b: Any
    correlation: float
    neuron_a: Any = None
    n_tokens: int = 0
    runner_up: float = float("nan")  # the second-best correlation: how clear-cut the match is

    def describe(self) -> str:
        a = f"{self.neuron_a.short_id} -> " if self.neuron_a is not None else ""
        return (f"{a}{self.neuron_b.short_id} (r = {self.correlation:.3f}, next best "
                f"{self.runner_up:.3f}, over {self.n_tokens} tokens)")

    def to_json(self) -> dict[str, Any]:
        return {"neuron_a": None if self.neuron_a is None else self.neuron_a.short_id,
                "neuron_b": self.neuron_b.short_id, "correlation": self.correlation,
                "runner_up": self.runner_up, "n_tokens": self.n_tokens}


def check_same_tokenizer(tokenizer_a: Any, tokenizer_b: Any) -> None:
    """Raise TokenizerMismatchError unless both tokenizers map text to the same ids."""
    vocab_a, vocab_b = tokenizer_a.get_vocab(), tokenizer_b.get_vocab()
    if vocab_a != vocab_b:
        differ = len(set(vocab_a.items()) ^ set(vocab_b.items()))
        raise TokenizerMismatchError(
            f"cannot match neurons: the two models' tokenizers differ (vocabularies of "
            f"{len(vocab_a)} and {len(vocab_b)} tokens, {differ} entries differ); matching "
            f"compares activations token by token, so both models need the same tokenizer")
    if tokenizer_a.bos_token_id != tokenizer_b.bos_token_id:
        raise TokenizerMismatchError(
            f"cannot match neurons: the tokenizers' BOS ids differ ({tokenizer_a.bos_token_id} "
            f"vs {tokenizer_b.bos_token_id}); give both models the same BOS token")


def match_neuron(lab_a: MinedModel, neuron: Any, lab_b: MinedModel, *,
                 layers: Sequence[int] | None = None) -> NeuronMatch:
    """The unit of `lab_b`'s model best correlated with `neuron` (any unit) of `lab_a`'s model.

    Searches B's units of the same kind in layer `neuron.layer` unless `layers` are given (an SAE
    latent searches its SAE). Correlations are over A's corpus windows (`lab_a.sample`), padding
    and BOS excluded; a unit of B that is constant there has no correlation and never matches.
    The highest (signed) correlation wins: an anti-correlated unit does not do the same thing.
    """
    return match_neurons(lab_a, [neuron], lab_b, layers=layers)[neuron]


def candidates(unit: Any, model: Any, layers: Sequence[int] | None = None) -> list[Any]:
    """The units of `model` that `unit` of another checkpoint may have become."""
    n_layers = int(model.cfg.n_layers)
    searched = sorted(set([unit.layer] if layers is None else layers))
    if isinstance(unit, (NeuronRef, HeadRef)):
        for layer in searched:
            if not 0 <= layer < n_layers:
                raise ValueError(f"cannot search layer {layer}: model B has layers 0..{n_layers - 1}")
    if isinstance(unit, NeuronRef):
        return [NeuronRef(layer, i) for layer in searched for i in range(int(model.cfg.d_mlp))]
    if isinstance(unit, HeadRef):
        return [HeadRef(layer, h) for layer in searched for h in range(int(model.cfg.n_heads))]
    if isinstance(unit, SaeLatent):
        unit.check(model)  # the SAE must fit B's hook
        return [unit.sae.latent(i) for i in range(unit.sae.d_sae)]
    if isinstance(unit, DirectionUnit):
        return [unit]
    raise ValueError(f"{unit.short_id}: no matching across checkpoints for a {unit.kind}")


def match_neurons(lab_a: MinedModel, neurons: Sequence[Any], lab_b: MinedModel, *,
                  layers: Sequence[int] | None = None) -> dict[Any, NeuronMatch]:
    """`match_neuron` for several units of A in one forward pass of B."""
    check_same_tokenizer(lab_a.tokenizer, lab_b.tokenizer)
    units = list(dict.fromkeys(neurons))
    searched = {u: candidates(u, lab_b.model, layers) for u in units}
    lab_a.prepare(units)
    batch = lab_a.sample.batch
    with progress_task(f"matching {len(units)} unit(s) on the other model", phase="matching"):
        found = unit_correlations(lab_b.model, batch.tokens, batch.mask, batch.has_bos,
                                  {u: lab_a.activations(u) for u in units}, searched,
                                  batch_size=lab_b.batch_size)
    out = {}
    for unit, rs in found.items():
        ranked = sorted(((float(r), i) for i, r in enumerate(rs.tolist()) if math.isfinite(r)),
                        reverse=True)
        if not ranked:
            raise ValueError(f"no candidate for {unit.short_id} varies over the corpus on model B")
        best, index = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else float("nan")
        out[unit] = NeuronMatch(searched[unit][index], best, unit, int(batch.mask.sum()), runner_up)
    return out


def unit_correlations(model: Any, tokens: torch.Tensor, mask: torch.Tensor, has_bos: bool,
                      a: dict[Any, torch.Tensor], searched: dict[Any, list[Any]], *,
                      batch_size: int | None = None) -> dict[Any, torch.Tensor]:
    """Pearson r of each `a[u]` (`[rows, pos]`) with each of its candidates `searched[u]` on
    `model`, over the `mask` positions, in the order of `searched[u]`. Candidates sharing a hook
    and reader (a layer's neurons, an SAE's latents) are read once per batch. `tokens` are
    right-padded rows; a batch runs at its own width. `batch_size=None` sizes batches to the
    device (`neurontest.engine.run.batching.fit_batch_size`)."""
    centred, var_a = {}, {}
    for u, values in a.items():
        values = values.to(torch.float64)
        # Centring A makes sum(a_c * b) the covariance numerator: no per-token B means needed.
        centred[u] = values - values[mask].mean()
        var_a[u] = float((centred[u][mask] ** 2).sum())
        if var_a[u] <= 0:
            raise ValueError(f"{u.short_id} of model A is constant over the corpus: nothing to match")
    # Pools: the union of candidates per (group, hook), each read by one reader.
    pools: dict[tuple[Any, str], dict[Any, int]] = {}
    users: dict[tuple[Any, str], list[Any]] = {}
    for u, units in searched.items():
        for c in units:
            key = (c.group, c.hook_name)
            pool = pools.setdefault(key, {})
            pool.setdefault(c, len(pool))
            if u not in users.setdefault(key, []):
                users[key].append(u)
    stacked = {key: torch.stack([centred[u] for u in us]) for key, us in users.items()}
    sums: dict[tuple[Any, str], dict[str, Any]] = {}
    current: dict[str, Any] = {}

    def make_hook(key: tuple[Any, str]) -> Callable[..., None]:
        pool = list(pools[key])
        read = type(pool[0]).reader(model, pool)

        def hook(value: torch.Tensor, hook: Any = None) -> None:
            b = read(value.detach())[current["mask"]].to(torch.float64).cpu()  # [tokens, k]
            a_rows = stacked[key][:, current["rows"], : current["width"]][:, current["cpu_mask"]]
            acc = sums.setdefault(key, {"b": 0.0, "bb": 0.0, "ab": 0.0})
            acc["b"] = acc["b"] + b.sum(0)
            acc["bb"] = acc["bb"] + (b * b).sum(0)
            acc["ab"] = acc["ab"] + a_rows @ b  # [users, k]

        return hook

    hooks = [(key[1], make_hook(key)) for key in pools]
    every = [c for pool in pools.values() for c in pool]
    stop_at = stop_layer(model, every)
    device = next(model.parameters()).device
    if batch_size is None:
        batch_size = fit_batch_size(model, tokens.shape[1], device, rows=tokens.shape[0],
                                    logits=stop_at is None)
    lengths = mask.sum(dim=1) + int(has_bos)
    n = float(mask.sum())
    with torch.inference_mode():
        for start in range(0, tokens.shape[0], batch_size):
            stop = start + batch_size
            width = int(lengths[start:stop].max())
            current.update(rows=slice(start, stop), width=width, cpu_mask=mask[start:stop, :width],
                           mask=mask[start:stop, :width].to(device))
            model.run_with_hooks(tokens[start:stop, :width].to(device), fwd_hooks=hooks,
                                 stop_at_layer=stop_at)
    r_by_key: dict[tuple[Any, str], Any] = {}
    for key, acc in sums.items():
        var_b = acc["bb"] - acc["b"] ** 2 / n
        # A constant candidate (var_b ~ 0; rounding can make it slightly negative) has no r.
        constant = var_b <= 1e-12 * max(1.0, float(acc["bb"].max()))
        r = acc["ab"] / torch.sqrt(torch.tensor([var_a[u] for u in users[key]],
                                                dtype=torch.float64)[:, None] * var_b)
        r[:, constant] = float("nan")
        r_by_key[key] = r
    out = {}
    for u, units in searched.items():
        # A unit's candidates come pool by pool (layer-major for neurons and heads).
        parts = []
        for key in dict.fromkeys((c.group, c.hook_name) for c in units):
            columns = [pools[key][c] for c in units if (c.group, c.hook_name) == key]
            parts.append(r_by_key[key][users[key].index(u), columns])
        out[u] = torch.cat(parts)
    return out
