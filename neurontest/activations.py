"""The activation engine: per-token activations of chosen neurons, in batched forward passes.

Only the requested columns of `blocks.{L}.mlp.hook_post` are kept (never a whole layer, so memory
grows with the neurons asked for, not with d_mlp x tokens), and the forward stops after the
deepest layer needed (`stop_at_layer`), which sets the cost of mining.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from neurontest.neuron import NeuronRef
from neurontest.models import model_dimensions

if TYPE_CHECKING:
    import torch

    from neurontest.tokens import TokenBatch


def check_neurons(model: Any, neurons: Iterable[NeuronRef]) -> None:
    """Raise ValueError naming the valid range for any neuron the model does not have."""
    n_layers, d_mlp = model_dimensions(model)
    for neuron in neurons:
        neuron.check_in_range(n_layers, d_mlp)


def capture_hooks(
    neurons: Sequence[NeuronRef], sink: dict[NeuronRef, list[torch.Tensor]]
) -> list[tuple[str, Callable[..., None]]]:
    """Forward hooks that append each neuron's `[batch, pos]` activations to `sink[neuron]`."""
    by_hook: dict[str, list[NeuronRef]] = defaultdict(list)
    for neuron in neurons:
        by_hook[neuron.hook_name].append(neuron)

    def make_hook(refs: list[NeuronRef]) -> Callable[..., None]:
        columns = [ref.index for ref in refs]

        def hook(value: torch.Tensor, hook: Any = None) -> None:
            picked = value[..., columns].detach().float().cpu()
            for k, ref in enumerate(refs):
                sink[ref].append(picked[..., k])

        return hook

    return [(name, make_hook(refs)) for name, refs in by_hook.items()]


def neuron_activations(
    model: Any,
    batch: TokenBatch,
    neurons: Sequence[NeuronRef],
    *,
    batch_size: int = 32,
    progress: bool | str = False,
) -> dict[NeuronRef, torch.Tensor]:
    """Activations `[rows, pos]` (float32, CPU) of each neuron on every token of `batch`.

    Padding positions hold whatever the model computed there; read them through `batch.mask`.
    """
    import torch

    neurons = list(dict.fromkeys(neurons))
    if not neurons:
        return {}
    check_neurons(model, neurons)
    stop_at = max(n.layer for n in neurons) + 1
    n_layers, _ = model_dimensions(model)
    sink: dict[NeuronRef, list[torch.Tensor]] = {n: [] for n in neurons}
    hooks = capture_hooks(neurons, sink)
    device = _model_device(model)
    starts = range(0, len(batch), batch_size)
    if progress:
        starts = _progress(starts, desc=progress if isinstance(progress, str) else "mining")
    with torch.inference_mode():
        for start in starts:
            rows = batch.tokens[start : start + batch_size]
            # Trim trailing all-pad columns: a batch of short texts runs at its own width.
            width = int(batch.lengths[start : start + batch_size].max())
            model.run_with_hooks(
                rows[:, :width].to(device),
                fwd_hooks=hooks,
                stop_at_layer=stop_at if stop_at < n_layers else None,
            )
            full_width = batch.tokens.shape[1]
            for ref in neurons:
                if width < full_width:
                    last = sink[ref][-1]
                    sink[ref][-1] = torch.nn.functional.pad(last, (0, full_width - width))
    return {ref: torch.cat(chunks, dim=0) for ref, chunks in sink.items()}


def _model_device(model: Any) -> Any:
    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover - a model without parameters
        return "cpu"


def _progress(iterable: Iterable[Any], *, desc: str) -> Iterable[Any]:
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=f"neurontest: {desc}", unit="batch", leave=False)
