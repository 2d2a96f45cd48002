"""How many corpus rows go into one forward pass, and how to back off when that is too many.

On CPU the batch size stays at 32, the long-standing default (a CPU forward gains little from
wider batches, while peak RAM grows with them). On CUDA it is sized from the device's free
memory and an estimate of what one row's forward keeps alive; if the estimate is still too
optimistic, `neuron_activations` halves the batch on an out-of-memory error and retries.
"""

from __future__ import annotations

from typing import Any

import torch

CPU_BATCH_SIZE = 32
MAX_BATCH_SIZE = 1024
# Share of the free device memory a batch may plan to use: the rest is left for the allocator's
# rounding and for whatever else allocates on the device while mining runs.
FREE_MEMORY_SHARE = 0.8
# The per-position estimate below counts one residual, one MLP hidden and one attention-score
# tensor; a block's forward holds several of each at once (normed residual, q/k/v, gate and up
# projections, scores and probabilities), so the sum is scaled up rather than itemised per
# architecture.
SAFETY_FACTOR = 8


def fit_batch_size(
    model: Any,
    width: int,
    device: Any,
    *,
    rows: int | None = None,
    logits: bool = True,
) -> int:
    """Rows per forward pass for windows of `width` tokens on `device`.

    CPU (and any non-CUDA device): `CPU_BATCH_SIZE`. CUDA: as many rows as fit in
    `FREE_MEMORY_SHARE` of the free memory at `row_bytes` each, clamped to [1, MAX_BATCH_SIZE].
    `logits` says whether the forward runs to the unembedding (no `stop_at_layer`), whose
    `[width, d_vocab]` output per row usually dwarfs the rest. Always at most `rows` when given.
    """
    if torch.device(device).type == "cuda":
        free_bytes, _total = torch.cuda.mem_get_info(torch.device(device))
        fitted = int(free_bytes * FREE_MEMORY_SHARE) // row_bytes(model, width, logits=logits)
        size = max(1, min(MAX_BATCH_SIZE, fitted))
    else:
        size = CPU_BATCH_SIZE
    if rows is not None:
        size = max(1, min(size, rows))
    return size


def row_bytes(model: Any, width: int, *, logits: bool = True) -> int:
    """Estimated device memory one row of `width` tokens keeps alive during a forward pass."""
    cfg = model.cfg
    per_position = int(cfg.d_model) + int(cfg.d_mlp) + int(cfg.n_heads) * width
    if logits:
        per_position += int(cfg.d_vocab)
    return max(1, per_position * width * _element_bytes(model) * SAFETY_FACTOR)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA's OutOfMemoryError and for the plain RuntimeErrors other backends raise."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def release_device_memory(device: Any) -> None:
    """Return cached blocks to the device before a retry (the failed batch's tensors are freed)."""
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


def return_freed_heap(device: Any) -> None:
    """After a CPU batch, give the heap pages its freed tensors held back to the OS (glibc).

    glibc raises its mmap threshold each time a large block is freed, so later batch-sized
    tensors come from the heap, whose freed pages it keeps: mining 200k tokens grew RSS by
    2.8 GB this way, and by 0.2 GB with this call (about 16 ms per batch, ~3% of mining)."""
    if torch.device(device).type != "cpu":
        return
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _libc() -> Any:
    """glibc, loaded on first use (not at import: the plugin's imports must cost nothing)."""
    global _LIBC
    if _LIBC is _UNLOADED:
        _LIBC = _load_libc()
    return _LIBC


def _load_libc() -> Any:
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None  # musl has no malloc_trim
    except OSError:
        return None


_UNLOADED = object()
_LIBC: Any = _UNLOADED


def _element_bytes(model: Any) -> int:
    dtype = getattr(model.cfg, "dtype", None)
    if dtype is None or not hasattr(dtype, "itemsize"):
        try:
            dtype = next(model.parameters()).dtype
        except StopIteration:  # pragma: no cover - a model without parameters
            return 4
    return int(dtype.itemsize)
