"""Neuron matching across checkpoints: which neuron of model B does what neuron N of model A does?

Fine-tunes and re-trainings may permute (or slightly move) neurons, so a claim about `L1N298`
of one checkpoint is tested on B's best match. The match is the neuron of B whose activations
correlate best (Pearson, pooled over every scorable corpus token) with A's neuron, on the same
token ids (both models must share a tokenizer).

Cost: one forward pass of B over A's corpus windows, stopping after the deepest searched layer.
Only running sums are kept (sum b, sum b^2, sum a*b per neuron), never a whole layer's
activations, so memory is O(d_mlp) per layer whatever the corpus size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from neurontest.errors import NeurontestError
from neurontest.engine.neuron import NeuronRef, mlp_post_hook

if TYPE_CHECKING:
    import torch

    from neurontest.lab import Lab


class TokenizerMismatchError(NeurontestError):
    """Two models read different token ids, so their neurons cannot be matched token by token."""


@dataclass(frozen=True)
class NeuronMatch:
    """B's best match for A's neuron, with the Pearson correlation of their activations."""

    neuron_b: NeuronRef
    correlation: float
    neuron_a: NeuronRef | None = None
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


def match_neuron(lab_a: Lab, neuron: NeuronRef, lab_b: Lab, *,
                 layers: Sequence[int] | None = None) -> NeuronMatch:
    """The neuron of `lab_b`'s model best correlated with `neuron` of `lab_a`'s model.

    Searches B's layer `neuron.layer` unless `layers` are given. Correlations are over A's corpus
    windows (`lab_a.sample`), padding and BOS excluded; a neuron of B that is constant there has
    no correlation and never matches. The highest (signed) correlation wins: an anti-correlated
    neuron does not do the same thing.
    """
    return match_neurons(lab_a, [neuron], lab_b, layers=layers)[neuron]


def match_neurons(lab_a: Lab, neurons: Sequence[NeuronRef], lab_b: Lab, *,
                  layers: Sequence[int] | None = None) -> dict[NeuronRef, NeuronMatch]:
    """`match_neuron` for several neurons of A in one forward pass of B."""
    from neurontest.engine.models import model_dimensions

    check_same_tokenizer(lab_a.tokenizer, lab_b.tokenizer)
    n_layers, _ = model_dimensions(lab_b.model)
    neurons = list(dict.fromkeys(neurons))
    others = [n.short_id for n in neurons if not isinstance(n, NeuronRef)]
    if others:
        # Heads, SAE latents and directions are not searched for on model B yet: say so rather
        # than answer with the best-correlated MLP neuron, which is a different kind of unit.
        raise ValueError(f"matching across checkpoints is implemented for MLP neurons only, not "
                         f"{', '.join(others)}; run these claims without --neurontest-match-neurons")
    searched = {n: sorted(set([n.layer] if layers is None else layers)) for n in neurons}
    for layer in {layer for ls in searched.values() for layer in ls}:
        if not 0 <= layer < n_layers:
            raise ValueError(f"cannot search layer {layer}: model B has layers 0..{n_layers - 1}")
    lab_a.prepare(neurons)
    batch = lab_a.sample.batch
    found = correlations(lab_b.model, batch.tokens, batch.mask, batch.has_bos,
                         {n: lab_a.activations(n) for n in neurons}, searched,
                         batch_size=lab_b.batch_size)
    out = {}
    for neuron, by_layer in found.items():
        ranked = sorted(((float(r), layer, i) for layer, rs in by_layer.items()
                         for i, r in enumerate(rs.tolist()) if math.isfinite(r)), reverse=True)
        if not ranked:
            raise ValueError(f"no neuron of model B varies over the corpus in layers {searched[neuron]}")
        best, layer, index = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else float("nan")
        out[neuron] = NeuronMatch(NeuronRef(layer, index), best, neuron, int(batch.mask.sum()), runner_up)
    return out


def correlations(model: Any, tokens: torch.Tensor, mask: torch.Tensor, has_bos: bool,
                 a: dict[NeuronRef, torch.Tensor], layers: dict[NeuronRef, list[int]], *,
                 batch_size: int | None = None) -> dict[NeuronRef, dict[int, torch.Tensor]]:
    """Pearson r of each `a[n]` (`[rows, pos]`) with every neuron of each layer in `layers[n]`,
    over the `mask` positions. `tokens` are right-padded rows; a batch runs at its own width.
    `batch_size=None` sizes batches to the device (`neurontest.engine.batching.fit_batch_size`)."""
    import torch

    from neurontest.engine.batching import fit_batch_size

    keys = list(a)
    centred, var_a = {}, {}
    for n in keys:
        values = a[n].to(torch.float64)
        # Centring A makes sum(a_c * b) the covariance numerator: no per-token B means needed.
        centred[n] = values - values[mask].mean()
        var_a[n] = float((centred[n][mask] ** 2).sum())
        if var_a[n] <= 0:
            raise ValueError(f"{n.short_id} of model A is constant over the corpus: nothing to match")
    group = {layer: [n for n in keys if layer in layers[n]] for ls in layers.values() for layer in ls}
    stacked = {layer: torch.stack([centred[n] for n in ns]) for layer, ns in group.items()}
    sums: dict[int, dict[str, torch.Tensor]] = {}
    current: dict[str, Any] = {}

    def make_hook(layer: int) -> Callable[..., None]:
        def hook(value: torch.Tensor, hook: Any = None) -> None:
            b = value[current["mask"]].to(torch.float64).cpu()  # [tokens, d_mlp]
            a_rows = stacked[layer][:, current["rows"], : current["width"]][:, current["cpu_mask"]]
            acc = sums.setdefault(layer, {"b": 0.0, "bb": 0.0, "ab": 0.0})
            acc["b"] = acc["b"] + b.sum(0)
            acc["bb"] = acc["bb"] + (b * b).sum(0)
            acc["ab"] = acc["ab"] + a_rows @ b  # [k, d_mlp]

        return hook

    hooks = [(mlp_post_hook(layer), make_hook(layer)) for layer in group]
    n_layers = int(model.cfg.n_layers)
    stop_at = max(group) + 1
    device = next(model.parameters()).device
    if batch_size is None:
        batch_size = fit_batch_size(model, tokens.shape[1], device, rows=tokens.shape[0],
                                    logits=stop_at >= n_layers)
    lengths = mask.sum(dim=1) + int(has_bos)
    n = float(mask.sum())
    with torch.inference_mode():
        for start in range(0, tokens.shape[0], batch_size):
            stop = start + batch_size
            width = int(lengths[start:stop].max())
            current.update(rows=slice(start, stop), width=width, cpu_mask=mask[start:stop, :width],
                           mask=mask[start:stop, :width].to(device))
            model.run_with_hooks(tokens[start:stop, :width].to(device), fwd_hooks=hooks,
                                 stop_at_layer=stop_at if stop_at < n_layers else None)
    out: dict[NeuronRef, dict[int, torch.Tensor]] = {n_: {} for n_ in keys}
    for layer, ns in group.items():
        acc = sums[layer]
        var_b = acc["bb"] - acc["b"] ** 2 / n
        # A constant neuron of B (var_b ~ 0; rounding can make it slightly negative) has no r.
        constant = var_b <= 1e-12 * max(1.0, float(acc["bb"].max()))
        for k, neuron in enumerate(ns):
            r = acc["ab"][k] / torch.sqrt(var_a[neuron] * var_b)
            r[constant] = float("nan")
            out[neuron][layer] = r
    return out
