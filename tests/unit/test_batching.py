"""Batch sizes chosen to fit the device, and the out-of-memory back-off of corpus mining.

No GPU is needed: `torch.cuda.mem_get_info` is replaced by a fake, and out-of-memory errors come
from a wrapper around the planted model that refuses batches above a size.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from neurontest.engine.run import batching  # noqa: E402
from neurontest.engine.run.activations import neuron_activations  # noqa: E402
from neurontest.engine.run.batching import (  # noqa: E402
    CPU_BATCH_SIZE,
    FREE_MEMORY_SHARE,
    MAX_BATCH_SIZE,
    fit_batch_size,
    is_out_of_memory,
    release_device_memory,
    row_bytes,
)
from neurontest.errors import DeviceMemoryError  # noqa: E402
from neurontest.lab import Lab  # noqa: E402
from neurontest.engine.models.planted import planted_corpus_texts, planted_model  # noqa: E402
from neurontest.engine.data.tokens import encode_texts  # noqa: E402

GIB = 1024**3
# SmolLM2-135M's shape, the embedded default model.
SMOL = SimpleNamespace(cfg=SimpleNamespace(d_model=576, d_mlp=1536, n_heads=9, d_vocab=49152,
                                           dtype=torch.float32))


@pytest.fixture(scope="module")
def planted():
    return planted_model()


@pytest.fixture(scope="module")
def corpus(planted):
    # 50 rows of uneven length: the back-off must also keep the per-chunk width trimming right.
    return encode_texts(planted.tokenizer, planted_corpus_texts(50))


@pytest.fixture
def free_memory(monkeypatch):
    """Pretend a CUDA device has `state["free"]` bytes free; record which device was asked."""
    state: dict[str, Any] = {"free": 8 * GIB, "asked": []}

    def mem_get_info(device=None):
        state["asked"].append(device)
        return state["free"], 80 * GIB

    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    return state


class RefusingModel:
    """The planted model, except that a forward over more than `max_rows` rows runs (so the
    capture hooks have already appended this chunk's columns) and then raises `error`, the way a
    deeper layer running out of memory would."""

    def __init__(self, model: Any, max_rows: int, error: Exception | None = None) -> None:
        self._model = model
        self.max_rows = max_rows
        self.error = error or torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        self.attempts: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def run_with_hooks(self, tokens: Any, **kwargs: Any) -> Any:
        self.attempts.append(int(tokens.shape[0]))
        out = self._model.run_with_hooks(tokens, **kwargs)
        if tokens.shape[0] > self.max_rows:
            raise self.error
        return out


# -- fit_batch_size -------------------------------------------------------------------------------
def test_cpu_automatic_stays_32(planted, monkeypatch):
    def no_cuda(device=None):
        raise AssertionError("the CPU path must not ask CUDA for memory")

    monkeypatch.setattr(torch.cuda, "mem_get_info", no_cuda)
    assert fit_batch_size(planted.model, 64, "cpu") == CPU_BATCH_SIZE == 32
    assert fit_batch_size(planted.model, 64, torch.device("cpu"), rows=10_000) == 32
    assert fit_batch_size(planted.model, 64, "cpu", rows=5) == 5  # never more rows than exist


def test_cuda_size_is_free_memory_over_row_estimate(free_memory):
    free_memory["free"] = 2 * GIB
    expected = int(2 * GIB * FREE_MEMORY_SHARE) // row_bytes(SMOL, 64, logits=False)
    assert 1 < expected < MAX_BATCH_SIZE  # the case is inside the clamps, so it tests the formula
    assert fit_batch_size(SMOL, 64, "cuda", logits=False) == expected
    # The estimate grows with every dimension the docstring names.
    per_position = 576 + 1536 + 9 * 64
    assert row_bytes(SMOL, 64, logits=False) == per_position * 64 * 4 * batching.SAFETY_FACTOR
    assert row_bytes(SMOL, 64, logits=True) == (per_position + 49152) * 64 * 4 * batching.SAFETY_FACTOR


def test_more_free_memory_gives_more_rows_up_to_the_clamp(free_memory):
    sizes = []
    for gib in (0.25, 0.5, 1, 2, 4, 64):
        free_memory["free"] = int(gib * GIB)
        sizes.append(fit_batch_size(SMOL, 64, "cuda"))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes), sizes
    free_memory["free"] = 10_000 * GIB
    assert fit_batch_size(SMOL, 64, "cuda", logits=False) == MAX_BATCH_SIZE
    free_memory["free"] = 1024  # less than one row: still try one row (back-off reports failure)
    assert fit_batch_size(SMOL, 64, "cuda") == 1
    free_memory["free"] = 64 * GIB
    assert fit_batch_size(SMOL, 64, "cuda", rows=7) == 7


def test_cuda_size_depends_on_width_logits_and_dtype(free_memory):
    free_memory["free"] = 4 * GIB
    assert fit_batch_size(SMOL, 256, "cuda") < fit_batch_size(SMOL, 64, "cuda")
    # Stopping before the unembedding drops the [width, d_vocab] logits from the estimate.
    assert fit_batch_size(SMOL, 64, "cuda", logits=False) > 5 * fit_batch_size(SMOL, 64, "cuda")
    half = SimpleNamespace(cfg=SimpleNamespace(**{**vars(SMOL.cfg), "dtype": torch.bfloat16}))
    assert row_bytes(half, 64) * 2 == row_bytes(SMOL, 64)


def test_cuda_asks_the_given_device(free_memory, planted):
    fit_batch_size(planted.model, 64, "cuda:1")
    assert free_memory["asked"] == [torch.device("cuda:1")]
    # The planted model reads its dims from a real TransformerBridge cfg.
    free_memory["free"] = 1 * GIB
    assert 1 <= fit_batch_size(planted.model, 64, "cuda") <= MAX_BATCH_SIZE


# -- out-of-memory back-off -----------------------------------------------------------------------
def test_is_out_of_memory_recognises_cuda_and_message_errors():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_backoff_halves_and_matches_a_plain_run(planted, corpus):
    neurons = [p.neuron for p in planted.neurons]  # both layers, two hook points
    plain = neuron_activations(planted.model, corpus, neurons, batch_size=32)
    refusing = RefusingModel(planted.model, max_rows=5)
    backed_off = neuron_activations(refusing, corpus, neurons, batch_size=32)
    # 32, 16 and 8 fail on the first chunk; 4 then holds for the remaining 50 rows.
    assert refusing.attempts == [32, 16, 8] + [4] * 12 + [2]
    assert backed_off.keys() == plain.keys()
    for ref in neurons:
        assert backed_off[ref].shape == plain[ref].shape == corpus.tokens.shape
        torch.testing.assert_close(backed_off[ref], plain[ref], rtol=0, atol=1e-5)


def test_backoff_on_a_plain_runtime_error_message(planted, corpus):
    neuron = planted.month.neuron
    plain = neuron_activations(planted.model, corpus, [neuron], batch_size=16)
    refusing = RefusingModel(planted.model, max_rows=10, error=RuntimeError("HIP out of memory"))
    values = neuron_activations(refusing, corpus, [neuron], batch_size=16)
    assert refusing.attempts[:2] == [16, 8]
    torch.testing.assert_close(values[neuron], plain[neuron], rtol=0, atol=1e-5)


def test_gives_up_at_batch_size_one_with_a_one_line_error(planted, corpus):
    refusing = RefusingModel(planted.model, max_rows=0)
    with pytest.raises(DeviceMemoryError) as info:
        neuron_activations(refusing, corpus, [planted.month.neuron], batch_size=8)
    assert refusing.attempts == [8, 4, 2, 1]
    message = str(info.value)
    assert "\n" not in message and "batch size 1" in message


def test_other_errors_are_not_retried(planted, corpus):
    refusing = RefusingModel(planted.model, max_rows=0, error=RuntimeError("shape mismatch"))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        neuron_activations(refusing, corpus, [planted.month.neuron], batch_size=8)
    assert refusing.attempts == [8]


def test_cuda_cache_is_emptied_before_a_retry_only_on_cuda(monkeypatch):
    emptied = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    release_device_memory(torch.device("cpu"))
    assert emptied == []
    release_device_memory("cuda:0")
    assert emptied == [True]


# -- automatic by default -------------------------------------------------------------------------
def test_automatic_is_the_default_and_is_32_rows_on_cpu(planted, corpus):
    assert Lab(planted.model).batch_size is None
    counting = RefusingModel(planted.model, max_rows=10**9)
    neuron_activations(counting, corpus, [planted.month.neuron])
    assert counting.attempts == [32, 18]
    with pytest.raises(ValueError, match="at least 1"):
        neuron_activations(planted.model, corpus, [planted.month.neuron], batch_size=0)


def test_plugin_option_defaults_to_automatic(pytester, monkeypatch):
    pytester.makepyfile(test_batch="""
        import os
        from neurontest.plugin import session_key

        def test_batch_size(request):
            expected = os.environ["EXPECTED_BATCH_SIZE"]
            got = request.config.stash[session_key].batch_size
            assert got == (None if expected == "auto" else int(expected))
    """)
    monkeypatch.setenv("EXPECTED_BATCH_SIZE", "auto")
    pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none").assert_outcomes(passed=1)
    monkeypatch.setenv("EXPECTED_BATCH_SIZE", "7")
    pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none",
                       "--neurontest-batch-size", "7").assert_outcomes(passed=1)
    result = pytester.runpytest("-p", "no:cacheprovider", "--neurontest-batch-size", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--neurontest-batch-size must be at least 1*"])


def test_cpu_mining_returns_freed_heap_after_every_batch(planted, corpus, monkeypatch):
    trims: list[int] = []
    monkeypatch.setattr(batching, "_LIBC", SimpleNamespace(malloc_trim=trims.append))
    neuron_activations(planted.model, corpus, [planted.month.neuron], batch_size=8)
    assert trims == [0] * -(-len(corpus) // 8)
    trims.clear()
    batching.return_freed_heap("cuda")  # device memory is not the C heap
    assert trims == []
