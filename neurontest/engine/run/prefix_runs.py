"""One neuron's activation at the last token of many variants of one text, computing each
variant only from the first position where it differs.

Noise sensitivity (noise token i) and simplification (delete token j) evaluate many variants of
one token sequence that agree with it up to some position. In a causal model the positions
before that are the same as in the unchanged text, so they are computed once; and at the
neuron's layer only the last token's MLP is needed. Three ways to run the variants:

* packed: when everything fits in one sequence of `PACK_TOKENS`, the base's prefix and each
  variant's changed suffix go into one forward call, with position ids and an attention mask
  that make each suffix see only the base before its start and itself;
* shared: longer texts share the base's keys and values through the model's KV cache, in
  groups of variants with one prefix length chosen by a cost model that trades recomputed
  positions against the fixed cost of a call;
* plain: every variant in full, in batches.

Each shortcut is checked once per model against an ordinary forward and dropped on any
mismatch, so a model or library version that behaves differently costs speed, never
correctness (see docs/benchmarks.md for the figures).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import torch

from neurontest.engine.run.activations import _model_device
from neurontest.engine.units.neuron import NeuronRef
from neurontest.engine.units.protocol import read_activations

if TYPE_CHECKING:
    from neurontest.engine.units.protocol import UnitRef

# Fixed cost of one forward call, in units of "one token through one layer" (measured on the
# 2-core CPU machine with SmolLM2-135M: ~17 ms per call of 4 layers against ~0.05 ms per
# token-layer). It only decides how variants are grouped, not what is computed.
CALL_OVERHEAD_TOKENS = 80
# Share of a layer's cost left at the neuron's layer when only attention runs there.
ATTENTION_SHARE = 0.25
# Longest packed sequence (neurontest measured 256-512 best on the 2-core CPU): attention over a
# pack costs its length squared, the base prefix is repeated once per pack, each pack is a call.
PACK_TOKENS = 512
# Relative tolerance of the once-per-model self-check.
SELF_CHECK_RTOL = 1e-4


@dataclass(frozen=True)
class Variant:
    """A full token sequence (BOS included) equal to the base sequence before `start`.

    `noise_at` (an absolute position >= `start`) gets `noise` added to its token embedding.
    """

    ids: tuple[int, ...]
    start: int
    noise_at: int | None = None
    noise: Any = None  # torch.Tensor [d_model]


def last_token_activations(
    model: Any,
    neuron: UnitRef,
    base: Sequence[int],
    variants: Sequence[Variant],
    *,
    batch_size: int = 512,
) -> torch.Tensor:
    """The neuron's activation at the last position of each variant (all of one length)."""
    return PrefixRunner(model, neuron, batch_size=batch_size)(base, variants)


class PrefixRunner:
    """`last_token_activations` for a sequence of calls on one neuron.

    It keeps the noise-free prefixes computed by its last call, so a call whose base is one of
    the previous call's variants (the next step of a simplification) skips its base run.
    """

    def __init__(self, model: Any, neuron: UnitRef, *, batch_size: int = 512) -> None:
        self.model, self.neuron, self.batch_size = model, neuron, batch_size
        self._kept: dict[tuple[int, ...], tuple[Cache, int]] = {}

    def __call__(self, base: Sequence[int], variants: Sequence[Variant]) -> torch.Tensor:
        model, neuron, batch_size = self.model, self.neuron, self.batch_size
        if not variants:
            return torch.zeros(0)
        length = len(variants[0].ids)
        if any(len(v.ids) != length for v in variants):
            raise ValueError("all variants must have the same length")
        starts = sorted(min(v.start, length - 1) for v in variants)
        verdict = _verdict(model, neuron)
        if length >= 2 and verdict.packs and packed_length(starts, length) <= PACK_TOKENS:
            # One call for every variant, each from where it differs. Several packs lose to
            # the KV-cache path: masked attention over a pack costs its length squared.
            return packed_activations(model, neuron, base, variants)
        if length < 2 or not verdict.shares_prefixes or shared_cost(
            starts, length, neuron.layer, batch_size
        ) >= plain_cost(len(variants), length, neuron.layer, batch_size):
            return plain_activations(model, neuron, variants, batch_size=batch_size,
                                     fast=verdict.fast)
        kept, self._kept = self._kept, {}
        return _shared_activations(model, neuron, list(base), variants, batch_size, kept, self._kept)


def plain_cost(rows: int, length: int, layer: int, batch_size: int) -> float:
    """Estimated cost (token-layers) of running `rows` variants in full."""
    calls = -(-rows // batch_size)
    return (rows * length + calls * CALL_OVERHEAD_TOKENS) * (layer + 1)


def shared_cost(starts: Sequence[int], length: int, layer: int, batch_size: int) -> float:
    """Estimated cost (token-layers) of the shared path: base prefix, groups, last tokens."""
    rows = len(starts)
    base = (length - 1) * (layer + ATTENTION_SHARE) + CALL_OVERHEAD_TOKENS * (layer + 1)
    last = (rows + -(-rows // batch_size) * CALL_OVERHEAD_TOKENS) * (layer + 1)
    return base + _group_plan(starts, length, layer, batch_size)[1] + last


def plain_activations(
    model: Any, neuron: UnitRef, variants: Sequence[Variant], *, batch_size: int = 512,
    fast: bool = False,
) -> torch.Tensor:
    """Every variant in full, in batches, stopped after the neuron's layer. `fast` attaches the
    hooks to the hook points directly and runs that layer's MLP on the last position alone (the
    self-check decides whether a model allows it)."""
    out: list[torch.Tensor] = []
    for start in range(0, len(variants), batch_size):
        chunk = variants[start : start + batch_size]
        tokens = torch.tensor([v.ids for v in chunk])
        out.append(_run(model, neuron, tokens, _deltas(model, chunk, 0, tokens.shape[1]), None,
                        fast=fast))
    return torch.cat(out)


# ---------------------------------------------------------------------------------------------
# The packed path: the base's prefix and every variant's changed suffix in one sequence


def packed_activations(model: Any, neuron: UnitRef, base: Sequence[int], variants: Sequence[Variant],
                       *, pack_tokens: int = PACK_TOKENS) -> torch.Tensor:
    """Each variant's last-position activation from packed sequences of about `pack_tokens`.

    A pack holds the base's first positions once, then each variant's tokens from its `start`
    on, at their own position ids; an attention mask lets a variant's token see the base before
    that variant's start and its own earlier tokens, nothing else. So the unchanged prefix is
    computed once per pack and every variant only from where it differs, in one forward call.
    """
    length = len(variants[0].ids)
    result = torch.empty(len(variants))
    order = sorted(range(len(variants)), key=lambda i: min(variants[i].start, length - 1))
    for pack in _packs([min(variants[i].start, length - 1) for i in order], length, pack_tokens):
        rows = [order[k] for k in pack]
        result[rows] = _run_pack(model, neuron, list(base), [variants[r] for r in rows], length)
    return result


def packed_length(starts: Sequence[int], length: int) -> int:
    """Tokens in one pack of variants with these starts: the base prefix once, then suffixes."""
    return max(starts) + sum(length - s for s in starts)


def _packs(starts: Sequence[int], length: int, pack_tokens: int) -> list[list[int]]:
    """Consecutive runs of the (sorted) starts whose packed length stays within `pack_tokens`."""
    packs: list[list[int]] = []
    current: list[int] = []
    suffixes = 0  # tokens of the current pack's suffixes
    for index, start in enumerate(starts):
        # Starts ascend, so this start is the pack's longest base prefix.
        if current and start + suffixes + (length - start) > pack_tokens:
            packs.append(current)
            current, suffixes = [], 0
        current.append(index)
        suffixes += length - start
    return packs + ([current] if current else [])


def _run_pack(model: Any, neuron: UnitRef, base: list[int], variants: Sequence[Variant],
              length: int) -> torch.Tensor:
    starts = [min(v.start, length - 1) for v in variants]
    head = max(starts)  # base positions some variant of this pack reads
    tokens, positions, owner = list(base[:head]), list(range(head)), [-1] * head
    noised: list[tuple[int, Any]] = []
    for k, (variant, start) in enumerate(zip(variants, starts)):
        if variant.noise_at is not None:
            noised.append((len(tokens) + variant.noise_at - start, variant.noise))
        tokens += variant.ids[start:]
        positions += range(start, length)
        owner += [k] * (length - start)
    pos, own = torch.tensor(positions), torch.tensor(owner)
    limit = torch.tensor([length] + starts)[own + 1]  # base positions each token may read
    causal = pos[None, :] <= pos[:, None]
    sees_base = (own[None, :] == -1) & (pos[None, :] < limit[:, None])
    sees_own = (own[None, :] == own[:, None]) & (own[:, None] >= 0)
    mask = torch.zeros(1, 1, len(tokens), len(tokens))
    mask[0, 0][~(causal & (sees_base | sees_own))] = torch.finfo(torch.float32).min
    deltas = None
    if noised:
        deltas = torch.zeros(1, len(tokens), int(model.cfg.d_model))
        for index, noise in noised:
            deltas[0, index] = noise
    lasts = torch.tensor([i for i in range(len(tokens)) if own[i] >= 0 and positions[i] == length - 1])
    sink: dict[str, Any] = {}

    def last_positions(value: Any, hook: Any = None) -> Any:
        return value[:, lasts.to(value.device)]  # the MLP is position-wise: only these are read

    read = read_activations(model, neuron)

    def capture(value: Any, hook: Any = None) -> None:
        if not neuron.mlp_tail:  # nothing was cut to the last positions: pick them here
            value = value[:, lasts.to(value.device)]
        sink["a"] = read(value)[0, :].float().cpu()
        raise _Stop

    hooks = [(neuron.hook_name, capture)]
    if neuron.mlp_tail:
        hooks.insert(0, (f"blocks.{neuron.layer}.mlp.hook_in", last_positions))
    device = _model_device(model)
    _forward(model, neuron, torch.tensor([tokens]), deltas, None, hooks,
             extra={"attention_mask": mask.to(device), "position_ids": torch.tensor([positions]).to(device)})
    return sink["a"]


# ---------------------------------------------------------------------------------------------
# The shared-prefix path


class _Stop(Exception):
    """Raised from a hook once the rest of the forward pass is not needed."""


Cache = list  # per layer (keys, values), each [rows, kv_heads, positions, head_dim]


def _shared_activations(
    model: Any,
    neuron: UnitRef,
    base: list[int],
    variants: Sequence[Variant],
    batch_size: int,
    known: dict[tuple[int, ...], tuple[Cache, int]] | None = None,
    keep: dict[tuple[int, ...], tuple[Cache, int]] | None = None,
) -> torch.Tensor:
    """`known` maps token prefixes to (cache, row) computed earlier; `keep` receives this call's
    noise-free prefixes (each variant's first length - 1 tokens)."""
    length = len(variants[0].ids)
    # Keys and values of the base sequence's first length - 1 positions, layers 0..L.
    earlier = (known or {}).get(tuple(base[: len(base) - 1]))
    if earlier is not None and _positions(earlier[0]) >= length - 1:
        cache, row = earlier
        base_cache = [(k[row : row + 1, :, : length - 1], v[row : row + 1, :, : length - 1]) for k, v in cache]
    else:
        base_cache = _prefill(model, neuron, torch.tensor([base[: length - 1]]), None, None)
    # Rows whose first difference is at the last position need nothing but the base's prefix.
    order = sorted(range(len(variants)), key=lambda i: variants[i].start)
    caches: list[tuple[list[int], Cache]] = []
    for group in plan_groups([min(variants[i].start, length - 1) for i in order], length,
                             neuron.layer, batch_size):
        start = min(variants[order[group[0]]].start, length - 1)
        for chunk in range(0, len(group), batch_size):
            rows = [order[k] for k in group[chunk : chunk + batch_size]]
            prefix = _crop_repeat(base_cache, start, len(rows))
            if start < length - 1:
                tokens = torch.tensor([variants[r].ids[start : length - 1] for r in rows])
                deltas = _deltas(model, [variants[r] for r in rows], start, length - 1)
                prefix = _prefill(model, neuron, tokens, deltas, prefix)
            caches.append((rows, prefix))
            if keep is not None:
                for i, r in enumerate(rows):
                    if variants[r].noise_at is None or variants[r].noise_at >= length - 1:
                        keep[tuple(variants[r].ids[: length - 1])] = (prefix, i)
    # The last token of every variant, against its own cache, in batches.
    result = torch.empty(len(variants))
    for rows, cache in _rebatch(caches, batch_size):
        tokens = torch.tensor([[variants[r].ids[-1]] for r in rows])
        deltas = _deltas(model, [variants[r] for r in rows], length - 1, length)
        result[rows] = _run(model, neuron, tokens, deltas, cache)
    return result


def plan_groups(starts: Sequence[int], length: int, layer: int, batch_size: int) -> list[list[int]]:
    """Split sorted `starts` into groups of consecutive indices, each run from its smallest start.

    Minimises (recomputed token-layers) + (calls x CALL_OVERHEAD_TOKENS x layers) by dynamic
    programming over the distinct starts; rows of one start stay together, and a group of more
    than `batch_size` rows costs one call per batch.
    """
    return _group_plan(starts, length, layer, batch_size)[0]


def _group_plan(starts: Sequence[int], length: int, layer: int, batch_size: int) -> tuple[list[list[int]], float]:
    values = sorted(set(starts))
    counts = [starts.count(v) for v in values]
    per_token = layer + ATTENTION_SHARE
    best = [0.0] + [float("inf")] * len(values)
    cut = [0] * (len(values) + 1)
    for end in range(1, len(values) + 1):
        rows = 0
        for begin in range(end - 1, -1, -1):
            rows += counts[begin]
            width = length - 1 - values[begin]
            calls = -(-rows // batch_size) if width else 0
            cost = rows * width * per_token + calls * CALL_OVERHEAD_TOKENS * (layer + 1)
            if best[begin] + cost < best[end]:
                best[end], cut[end] = best[begin] + cost, begin
    bounds: list[tuple[int, int]] = []
    end = len(values)
    while end:
        bounds.append((cut[end], end))
        end = cut[end]
    firsts = [starts.index(v) for v in values] + [len(starts)]
    return [list(range(firsts[b], firsts[e])) for b, e in reversed(bounds)], best[-1]


def _prefill(model: Any, neuron: UnitRef, tokens: Any, deltas: Any, cache: Cache | None) -> Cache:
    """Extend `cache` with `tokens` through layers 0..L-1 and layer L's attention."""

    def stop(value: Any, hook: Any = None) -> None:
        raise _Stop

    hf_cache = _to_hf(cache)
    hooks = [(f"blocks.{neuron.layer}.mlp.hook_in", stop)]
    _forward(model, neuron, tokens, deltas, hf_cache, hooks)
    return [(layer.keys, layer.values) for layer in hf_cache.layers[: neuron.layer + 1]]


def _run(model: Any, neuron: UnitRef, tokens: Any, deltas: Any, cache: Cache | None,
         *, fast: bool = False) -> Any:
    """The neuron's activation at the last position of each row of `tokens`. Without
    `fast` and a cache this is an ordinary `run_with_hooks` forward: the reference."""
    sink: dict[str, Any] = {}

    def last_position(value: Any, hook: Any = None) -> Any:
        # The MLP is position-wise and only the last position is read: at the neuron's layer
        # run it there alone (three quarters of that layer's FLOPs on every other position).
        return value[:, -1:]

    read = read_activations(model, neuron)

    def capture(value: Any, hook: Any = None) -> None:
        sink["a"] = read(value[:, -1:])[:, 0].float().cpu()
        raise _Stop

    hooks = [(neuron.hook_name, capture)]
    if fast and neuron.mlp_tail:
        hooks.insert(0, (f"blocks.{neuron.layer}.mlp.hook_in", last_position))
    _forward(model, neuron, tokens, deltas, _to_hf(cache) if cache is not None else None, hooks,
             direct=fast or cache is not None)
    return sink["a"]


def _forward(model: Any, neuron: UnitRef, tokens: Any, deltas: Any, hf_cache: Any, hooks: list,
             *, direct: bool = True, extra: dict[str, Any] | None = None) -> None:
    """One forward with `hooks`; `direct` attaches them to the hook points itself instead of
    through `run_with_hooks` (the self-check's reference uses the latter)."""
    device = _model_device(model)
    hooks = list(hooks)
    if deltas is not None:
        def add_noise(value: Any, hook: Any = None) -> Any:
            return value + deltas.to(value.device, value.dtype)

        hooks.insert(0, ("hook_embed", add_noise))
    kwargs: dict[str, Any] = {}
    if hf_cache is not None:
        # transformers 5 hands the cache to attention as `cache=`, while TransformerLens'
        # attention bridge looks for `past_key_values` / `layer_past`: pass it under both names.
        kwargs = {"cache": hf_cache, "layer_past": hf_cache, "use_cache": True}
    kwargs |= extra or {}
    n_layers = int(model.cfg.n_layers)
    stop_at = neuron.layer + 1 if neuron.layer + 1 < n_layers else None
    points = _hook_points(model) if direct else {}
    with torch.inference_mode():
        if not all(name in points for name, _ in hooks):
            try:
                model.run_with_hooks(tokens.to(device), fwd_hooks=hooks, stop_at_layer=stop_at, **kwargs)
            except _Stop:
                pass
            return
        added = []
        try:
            for name, fn in hooks:
                added.append((points[name], points[name].add_hook(fn, dir="fwd")))
            model(tokens.to(device), stop_at_layer=stop_at, **kwargs)
        except _Stop:
            pass
        finally:
            for point, handle in added:
                handle.hook.remove()
                point.fwd_hooks[:] = [h for h in point.fwd_hooks if h is not handle]


def _hook_points(model: Any) -> dict[str, Any]:
    """The model's hook points by name, built once per model: `run_with_hooks` rebuilds this map
    and its aliases on every call, about 4 ms of a 4-layer forward on the CPU."""
    points = _points.get(model)
    if points is None:
        points = _points[model] = dict(getattr(model, "hook_dict", {}))
    return points


_points: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _to_hf(cache: Cache | None) -> Any:
    from transformers import DynamicCache

    hf = DynamicCache()
    for index, (keys, values) in enumerate(cache or []):
        hf.update(keys, values, index)
    return hf


def _positions(cache: Cache) -> int:
    return int(cache[0][0].shape[2])


def _crop_repeat(cache: Cache, positions: int, rows: int) -> Cache:
    return [(k[:, :, :positions].expand(rows, -1, -1, -1).contiguous(),
             v[:, :, :positions].expand(rows, -1, -1, -1).contiguous()) for k, v in cache]


def _rebatch(caches: list[tuple[list[int], Cache]], batch_size: int) -> list[tuple[list[int], Cache]]:
    """Regroup (rows, cache) pieces of equal cache length into batches of <= batch_size rows."""
    pieces = [(rows[i : i + batch_size], [(k[i : i + batch_size], v[i : i + batch_size]) for k, v in cache])
              for rows, cache in caches for i in range(0, len(rows), batch_size)]
    batches: list[tuple[list[int], Cache]] = []
    pending: list[tuple[list[int], Cache]] = []
    count = 0
    for piece in pieces + [None]:  # type: ignore[list-item]
        if piece is None or (pending and count + len(piece[0]) > batch_size):
            if pending:
                rows = [r for p, _ in pending for r in p]
                layers = zip(*(c for _, c in pending))
                batches.append((rows, [(torch.cat([k for k, _ in layer]), torch.cat([v for _, v in layer]))
                                       for layer in layers]))
            pending, count = [], 0
        if piece is not None:
            pending.append(piece)
            count += len(piece[0])
    return batches


def _deltas(model: Any, variants: Sequence[Variant], begin: int, end: int) -> Any:
    """Embedding offsets `[rows, end - begin, d_model]` for positions begin..end-1, or None."""
    noisy = [(i, v) for i, v in enumerate(variants) if v.noise_at is not None and begin <= v.noise_at < end]
    if not noisy:
        return None
    deltas = torch.zeros(len(variants), end - begin, int(model.cfg.d_model))
    for i, v in noisy:
        deltas[i, v.noise_at - begin] = v.noise
    return deltas


# ---------------------------------------------------------------------------------------------
# Self-check, once per model


@dataclass(frozen=True)
class _Verdict:
    """Which shortcuts give an ordinary forward's numbers on a model."""

    fast: bool  # direct hooks and the neuron's MLP on the last position alone
    shares_prefixes: bool  # the KV-cache path
    packs: bool = False  # packed sequences with an attention mask


_verdicts: weakref.WeakKeyDictionary[Any, _Verdict] = weakref.WeakKeyDictionary()


def _verdict(model: Any, neuron: UnitRef) -> _Verdict:
    """The shortcuts this model allows (checked once per model, on a short random text)."""
    if model not in _verdicts:
        _verdicts[model] = _self_check(model, neuron)
    return _verdicts[model]


def _self_check(model: Any, neuron: UnitRef) -> _Verdict:
    vocab = int(model.cfg.d_vocab)
    generator = torch.Generator().manual_seed(0)
    base = torch.randint(0, vocab, (7,), generator=generator).tolist()
    noise = torch.randn(int(model.cfg.d_model), generator=generator)
    probe = NeuronRef(neuron.layer, 0)
    variants = [Variant(tuple(base), 7), Variant(tuple(base), 2, 2, noise), Variant(tuple(base), 6, 6, noise),
                Variant(tuple(base[:3] + base[4:] + base[:1]), 3)]
    # The reference runs the neuron's MLP on every position, as an ordinary forward does.
    full = plain_activations(model, probe, variants)
    scale = float(full.abs().max()) + 1e-6

    def agrees(shortcut: Any) -> bool:
        try:
            return bool((shortcut() - full).abs().max() <= SELF_CHECK_RTOL * scale)
        except Exception:  # noqa: BLE001 - any failure means: do without this shortcut
            return False

    return _Verdict(
        fast=agrees(lambda: plain_activations(model, probe, variants, fast=True)),
        shares_prefixes=agrees(lambda: _shared_activations(model, probe, base, variants, batch_size=2)),
        packs=agrees(lambda: packed_activations(model, probe, base, variants, pack_tokens=12)),
    )
