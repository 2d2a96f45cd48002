"""The activation engine: per-token activations of chosen neurons, in batched forward passes.

Only the requested columns of `blocks.{L}.mlp.hook_post` are kept (never a whole layer, so memory
grows with the neurons asked for, not with d_mlp x tokens), and the forward stops after the
deepest layer needed (`stop_at_layer`), which sets the cost of mining.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch

from neurontest.engine.progress import progress_task
from neurontest.engine.run.batching import (
    fit_batch_size,
    is_out_of_memory,
    release_device_memory,
    return_freed_heap,
)
from neurontest.engine.units.protocol import capture_hooks, check_units, stop_layer
from neurontest.errors import DeviceMemoryError

if TYPE_CHECKING:
    from neurontest.engine.data.tokens import TokenBatch
    from neurontest.engine.units.protocol import UnitRef


def checked_request(model: Any, units: Sequence[UnitRef], batch_size: int | None) -> list[UnitRef]:
    """The units of a mining request, each once, checked against the model (ValueError with the
    fix), whichever executor mines them."""
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1 (or None for automatic), got {batch_size}")
    units = list(dict.fromkeys(units))
    if units:
        check_units(model, units)
    return units


def neuron_activations(
    model: Any,
    batch: TokenBatch,
    neurons: Sequence[UnitRef],
    *,
    batch_size: int | None = None,
    progress: bool | str = False,
) -> dict[UnitRef, torch.Tensor]:
    """Activations `[rows, pos]` (float32, CPU) of each neuron on every token of `batch`.

    `batch_size=None` picks the rows per forward from the device (`batching.fit_batch_size`:
    32 on CPU, sized to free memory on CUDA). A chunk that runs out of device memory is retried
    at half the batch size, which then holds for the rest of the pass.
    Padding positions hold whatever the model computed there; read them through `batch.mask`.
    """
    neurons = checked_request(model, neurons, batch_size)
    if not neurons:
        return {}
    stop_at_layer = stop_layer(model, neurons)
    device = _model_device(model)
    full_width = batch.tokens.shape[1]
    if batch_size is None:
        batch_size = fit_batch_size(model, full_width, device, rows=len(batch),
                                    logits=stop_at_layer is None)
    sink: dict[UnitRef, list[torch.Tensor]] = {n: [] for n in neurons}
    position = {"start": 0}
    hooks = capture_hooks(model, neurons, sink, position)
    # Units that sum a summary over the pass (layer scans) instead of keeping columns.
    summed = [ref for ref in neurons if getattr(ref, "accumulates", False)]
    columns = [ref for ref in neurons if not getattr(ref, "accumulates", False)]

    def run_chunk(start: int, stop: int) -> None:
        rows = batch.tokens[start:stop]
        # Trim trailing all-pad columns: a batch of short texts runs at its own width.
        width = int(batch.lengths[start:stop].max())
        position["start"] = start
        model.run_with_hooks(rows[:, :width].to(device), fwd_hooks=hooks,
                             stop_at_layer=stop_at_layer)
        if width < full_width:
            for ref in columns:
                sink[ref][-1] = torch.nn.functional.pad(sink[ref][-1], (0, full_width - width))
        for ref in summed:  # only after the chunk succeeded: a retried chunk is not added twice
            sink[ref][:] = [ref.combine(sink[ref])]
        return_freed_heap(device)

    # Counted in tokens (not rows), so the reporter can show tokens/s and an ETA.
    cumulative = batch.lengths.cumsum(0).tolist()
    rows_done = 0
    name = progress if isinstance(progress, str) else "mining"
    with ExitStack() as stack:
        task = stack.enter_context(progress_task(name, total=cumulative[-1] if cumulative else 0,
                                                 unit="tokens", bar=True, phase="mining")) if progress else None

        def advance(rows: int) -> None:
            nonlocal rows_done
            before = cumulative[rows_done - 1] if rows_done else 0
            rows_done += rows
            if task is not None:
                task.advance(cumulative[rows_done - 1] - before)

        with torch.inference_mode():
            _run_with_backoff(run_chunk, len(batch), batch_size, sink, device, on_chunk=advance)
    return {ref: ref.combine(chunks) if ref in summed else torch.cat(chunks, dim=0)
            for ref, chunks in sink.items()}


def _run_with_backoff(
    run_chunk: Callable[[int, int], None],
    n_rows: int,
    batch_size: int,
    sink: dict[UnitRef, list[Any]],
    device: Any,
    on_chunk: Callable[[int], None] | None = None,
) -> None:
    """Call `run_chunk(start, stop)` over `n_rows` rows in order, halving the batch size after an
    out-of-memory error and retrying the same rows.

    The capture hooks may already have appended some layers' columns for the failed chunk before
    the error (a deeper layer ran out), so every sink list is cut back to its length before the
    chunk: a retried chunk must not be appended twice.
    """
    start = 0
    while start < n_rows:
        stop = min(start + batch_size, n_rows)
        kept = {ref: len(chunks) for ref, chunks in sink.items()}
        try:
            run_chunk(start, stop)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            for ref, length in kept.items():
                del sink[ref][length:]
            if batch_size == 1:
                raise DeviceMemoryError(
                    f"out of memory on {device} even at batch size 1 (corpus row {start}): free "
                    "device memory, use a shorter corpus window or --neurontest-device cpu"
                ) from exc
            ran_out = True
        else:
            ran_out = False
        if ran_out:
            # Outside the except block: its traceback no longer pins the failed chunk's tensors,
            # so emptying the cache can actually hand their memory back.
            release_device_memory(device)
            batch_size //= 2
            continue
        if on_chunk is not None:
            on_chunk(stop - start)
        start = stop


def _model_device(model: Any) -> Any:
    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover - a model without parameters
        return "cpu"
