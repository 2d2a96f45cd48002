"""Direct logit attribution (DLA) of a neuron, through the final norm, from its own layer.

The direct path of neuron n in layer L to the logit of token t is
    a_n * ((W_out[L][n] * g_final) . W_U[:, t]) / scale_final
where g_final is the final norm's gain and scale_final its per-position scale (the RMS, or for
LayerNorm the standard deviation, of the final residual). LayerNorm also subtracts the mean
over d_model, so there the direction is centred first. The seed notebook used W_out[-1] for every
layer and left out the norm; both change the answer. The unembedding bias is left out: it does
not depend on the neuron. `frozen_norm_ablation` measures the same quantity by intervention,
which is how a test checks the formula on a given model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import torch

from neurontest.engine.data.tokens import (
    TokenBatch,
    display_tokens,
    encode_texts,
    lone_token_text,
    single_token_id,
)
from neurontest.engine.run.activations import _model_device
from neurontest.engine.units.protocol import check_units, read_activations
from neurontest.measure.ablation import ablation_hooks

if TYPE_CHECKING:
    from neurontest.engine.units.protocol import UnitRef

SCALE_HOOK = "ln_final.hook_scale"


@dataclass
class LogitAttribution:
    """The tokens whose logits the neuron's output direction raises and lowers most, per unit
    of activation at a position whose final-norm scale is 1 (divide by the scale for a real one)."""

    neuron: UnitRef
    promoted: list[tuple[str, float]]
    suppressed: list[tuple[str, float]]


@dataclass(frozen=True)
class TokenRank:
    """Where one token's logit weight stands among the whole vocabulary: `rank` 1 is the most
    promoted (or, ranked for suppression, the most suppressed); `z` is its weight in standard
    deviations from the vocabulary mean (positive: pushed up, negative: pushed down)."""

    token_id: int
    rank: int
    z: float
    value: float


@dataclass
class DirectEffect:
    """Per real token (BOS excluded): the neuron's activation, the final norm's scale, and the
    direct contribution `dla` of the neuron to the logit of `token` predicted there."""

    text: str
    str_tokens: list[str]
    token: str
    activations: list[float]
    scale: list[float]
    dla: list[float]


def final_norm_gain(model: Any) -> tuple[torch.Tensor, bool]:
    """(gain over d_model, whether the norm centres): the final norm as DLA needs it."""
    kind = str(getattr(model.cfg, "normalization_type", None))
    if kind not in ("RMS", "RMSPre", "LN", "LNPre"):
        raise ValueError(
            f"final norm type {kind!r} is not supported for DLA: expected RMS or LN (or the folded "
            f"RMSPre/LNPre)"
        )
    centred = kind.startswith("LN")
    weights = [p for name, p in model.ln_final.named_parameters() if name.endswith("weight")]
    if kind.endswith("Pre") or not weights:
        # Folded norms have no gain of their own: it already sits in W_U.
        gain = torch.ones(int(model.cfg.d_model))
    else:
        gain = weights[0].detach().float().cpu()
    return gain, centred


def logit_direction(model: Any, neuron: UnitRef) -> torch.Tensor:
    """(W_out[L][n] * g_final) @ W_U (centred first under LayerNorm): one value per vocab token."""
    check_units(model, [neuron])
    gain, centred = final_norm_gain(model)
    with torch.inference_mode():
        # The layer's own weight: `model.W_out` stacks every layer's (a ~100 MB copy, ~75 ms on
        # SmolLM2) to read one row of one layer.
        # Any unit: a neuron's W_out row, an SAE latent's decoder row, a direction (through W_out
        # from mlp.hook_post); a head has none and says so.
        w = neuron.output_direction(model)
        if centred:
            w = w - w.mean()
        return (w * gain) @ model.W_U.detach().float().cpu()


def logit_attribution(model: Any, neuron: UnitRef, *, k: int = 20) -> LogitAttribution:
    """The `k` most promoted and `k` most suppressed tokens of the neuron's direct path."""
    direction = logit_direction(model, neuron)
    top = direction.topk(k)
    bottom = direction.topk(k, largest=False)

    def shown(i: Any) -> str:  # a byte piece (no neighbours to merge with) by its own form
        return lone_token_text(model.tokenizer, int(i))

    return LogitAttribution(
        neuron=neuron,
        promoted=[(shown(i), float(v)) for v, i in zip(top.values, top.indices)],
        suppressed=[(shown(i), float(v)) for v, i in zip(bottom.values, bottom.indices)],
    )


def vocabulary_ranks(direction: torch.Tensor, token_ids: Sequence[int], *,
                     promoted: bool = True) -> list[TokenRank]:
    """Rank and z-score of each of `token_ids` among every token of `direction` (one logit
    weight per vocabulary token), ranked by promotion or, with `promoted=False`, suppression;
    best-ranked first."""
    direction = direction.reshape(-1).to(torch.float64)
    sign = 1.0 if promoted else -1.0
    order = torch.argsort(sign * direction, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(1, len(order) + 1)
    std = float(direction.std(unbiased=False))
    mean = float(direction.mean())
    ids = torch.tensor(sorted(set(int(i) for i in token_ids)), dtype=torch.long)
    out = [TokenRank(int(i), int(rank[i]), (float(direction[i]) - mean) / std if std else 0.0,
                     float(direction[i])) for i in ids]
    return sorted(out, key=lambda r: r.rank)


def direct_effect(
    model: Any,
    neuron: UnitRef,
    texts: Sequence[str] | TokenBatch,
    *,
    token: str | int,
    prepend_bos: bool = True,
    batch_size: int = 16,
) -> list[DirectEffect]:
    """Per-position DLA of `neuron` to the logit of `token` (a single-token string or an id).

    Needs a full forward (the scale comes from the final norm), one per chunk of `batch_size`.
    """
    _check_scale_hook(model)
    token_id = _token_id(model, token)
    per_unit = float(logit_direction(model, neuron)[token_id])
    batch = _batch(model, texts, prepend_bos)
    sink: dict[str, list[torch.Tensor]] = {"act": [], "scale": []}

    read = read_activations(model, neuron)

    def capture_act(value: torch.Tensor, hook: Any = None) -> None:
        sink["act"].append(read(value).float().cpu())

    def capture_scale(value: torch.Tensor, hook: Any = None) -> None:
        sink["scale"].append(value[..., 0].float().cpu())

    hooks = [(neuron.hook_name, capture_act), (SCALE_HOOK, capture_scale)]
    out: list[DirectEffect] = []
    for chunk, tokens in _chunks(model, batch, batch_size):
        with torch.inference_mode():
            model.run_with_hooks(tokens, fwd_hooks=hooks)
        act, scale = sink["act"].pop(), sink["scale"].pop()
        for row, (text, str_tokens, span) in enumerate(_rows(model, chunk)):
            a, s = act[row, span], scale[row, span]
            out.append(
                DirectEffect(text, str_tokens, model.tokenizer.decode([token_id]), a.tolist(),
                             s.tolist(), (a * per_unit / s).tolist())
            )
    return out


def frozen_norm_ablation(
    model: Any,
    neuron: UnitRef,
    texts: Sequence[str] | TokenBatch,
    *,
    token: str | int,
    prepend_bos: bool = True,
    batch_size: int = 16,
) -> list[list[float]]:
    """Clean minus zero-ablated logit of `token` per real token, the final scale held at its
    clean value. For a last-layer neuron this is exactly its direct effect (the DLA); for earlier
    layers it also contains the paths through later layers."""
    _check_scale_hook(model)
    check_units(model, [neuron])
    token_id = _token_id(model, token)
    batch = _batch(model, texts, prepend_bos)
    out: list[list[float]] = []
    for chunk, tokens in _chunks(model, batch, batch_size):
        held: list[torch.Tensor] = []

        def keep(value: torch.Tensor, hook: Any = None) -> None:
            held.append(value.detach().clone())

        def restore(value: torch.Tensor, hook: Any = None) -> torch.Tensor:
            return held[0]

        with torch.inference_mode(), warnings.catch_warnings():
            # The bridge warns that an edited scale leaves HF's native path; that is the point.
            warnings.filterwarnings("ignore", message=".*hook_scale.*")
            clean = model.run_with_hooks(tokens, fwd_hooks=[(SCALE_HOOK, keep)])
            hooks = ablation_hooks({neuron: 0.0}, model) + [(SCALE_HOOK, restore)]
            ablated = model.run_with_hooks(tokens, fwd_hooks=hooks)
        change = (clean[..., token_id] - ablated[..., token_id]).float().cpu()
        out.extend(change[row, span].tolist() for row, (_, _, span) in enumerate(_rows(model, chunk)))
    return out


def _check_scale_hook(model: Any) -> None:
    if SCALE_HOOK not in model.hook_dict:
        raise ValueError(
            f"the model has no {SCALE_HOOK!r} hook, so the final norm's scale cannot be read; "
            f"DLA through the final norm needs a TransformerLens model that exposes it"
        )


def _token_id(model: Any, token: str | int) -> int:
    return int(token) if isinstance(token, int) else single_token_id(model.tokenizer, token)


def _batch(model: Any, texts: Sequence[str] | TokenBatch, prepend_bos: bool) -> TokenBatch:
    if isinstance(texts, TokenBatch):
        return texts
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings; wrap a single text as [text]")
    return encode_texts(model.tokenizer, texts, prepend_bos=prepend_bos)


def _chunks(model: Any, batch: TokenBatch, size: int) -> Any:
    """(chunk, tokens on the model's device trimmed to the chunk's width) per `size` rows."""
    device = _model_device(model)
    for start in range(0, len(batch), size):
        chunk = batch.select(list(range(start, min(start + size, len(batch)))))
        yield chunk, chunk.tokens[:, : int(chunk.lengths.max())].to(device)


def _rows(model: Any, chunk: TokenBatch) -> Any:
    """(text, display strings of the real tokens, slice of real positions) per row of a chunk."""
    first = int(chunk.has_bos)
    for row in range(len(chunk)):
        n = int(chunk.lengths[row])
        ids = chunk.tokens[row, first:n].tolist()
        text = chunk.texts[row] if chunk.texts is not None else model.tokenizer.decode(ids)
        yield text, display_tokens(model.tokenizer, ids), slice(first, n)
