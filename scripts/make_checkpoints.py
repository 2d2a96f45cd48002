"""Build offline checkpoints of the embedded SmolLM2-135M to test claims across (docs/checkpoints.md).

    python scripts/make_checkpoints.py all          # bf16, int8 and fine-tuned folders
    python scripts/make_checkpoints.py finetune --steps 30

Every checkpoint is a plain HF folder under `$NEURONTEST_CACHE_DIR/models` (default
~/.cache/neurontest/models), so `pytest hypotheses/ --neurontest-model <folder>` reads it:

* `smollm2-135m-bf16`: weights rounded to bfloat16 (stored as bf16; neurontest loads them as
  fp32, so this isolates weight rounding from bf16 arithmetic);
* `smollm2-135m-int8`: every linear weight quantised per output row to int8 (absmax scale) and
  dequantised back, as weight-only int8 inference does; the tied embedding/unembedding stays fp32;
* `smollm2-135m-ft-lee`: a short AdamW fine-tune on the embedded Lee corpus.

Folders are built in a sibling temp folder and renamed into place, so an interrupted build
never leaves a half-written checkpoint.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch


def models_dir() -> Path:
    from neurontest.engine.store.paths import cache_root

    return cache_root() / "models"


def load_base() -> tuple[Any, Any]:
    """The embedded model as a plain (unbridged) fp32 HF model, and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from neurontest.engine.models.loading import embedded_model_folder

    folder = embedded_model_folder()
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return model, AutoTokenizer.from_pretrained(folder)


def save_folder(name: str, build: Callable[[], tuple[Any, Any]], force: bool = False) -> Path:
    """Build a model and save it (with its tokenizer) as `models_dir()/name`, atomically."""
    target = models_dir() / name
    if (target / ".complete").exists() and not force:
        print(f"{name}: exists, skipped ({target}); --force rebuilds it")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a model folder is ordinary data
    try:
        started = time.perf_counter()
        model, tokenizer = build()
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / ".complete").write_text(f"{name}\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
        print(f"{name}: built in {time.perf_counter() - started:.1f} s -> {target}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def bf16() -> tuple[Any, Any]:
    model, tokenizer = load_base()
    return model.to(torch.bfloat16), tokenizer


def quantise_rows_int8(weight: torch.Tensor) -> torch.Tensor:
    """Per-output-row absmax int8 quantise + dequantise: w ~ round(w / s) * s, s = max|w_row| / 127."""
    scale = weight.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
    return (weight / scale).round().clamp(-127, 127) * scale


def int8() -> tuple[Any, Any]:
    model, tokenizer = load_base()
    tied = model.get_output_embeddings()
    with torch.no_grad():
        for module in model.modules():
            # The unembedding (tied to the embedding table in SmolLM2) stays in full precision,
            # as in common weight-only int8 recipes.
            if isinstance(module, torch.nn.Linear) and module is not tied:
                module.weight.copy_(quantise_rows_int8(module.weight))
    return model, tokenizer


def finetune(steps: int = 10, batch: int = 8, seq: int = 64, tokens: int = 20_000,
             lr: float = 1e-4, seed: int = 0) -> Callable[[], tuple[Any, Any]]:
    def build() -> tuple[Any, Any]:
        from neurontest.engine.data.corpus import load_corpus

        torch.manual_seed(seed)
        model, tokenizer = load_base()
        ids: list[int] = []
        for text in load_corpus("lee").texts:  # the first `tokens` tokens of the corpus
            ids += tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(ids) >= tokens:
                break
        data = torch.tensor(ids[: tokens - tokens % seq]).reshape(-1, seq)
        optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
        model.train()
        started = time.perf_counter()
        for step in range(steps):
            rows = data[torch.randint(0, len(data), (batch,))]
            loss = model(input_ids=rows, labels=rows).loss
            loss.backward()
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
            if step % 5 == 0 or step == steps - 1:
                elapsed = time.perf_counter() - started
                print(f"  step {step + 1}/{steps}: loss {loss.item():.3f} ({elapsed:.0f} s)", flush=True)
        model.eval()
        print(f"  fine-tune: {steps} steps x {batch} x {seq} tokens from {len(data) * seq} "
              f"tokens of 'lee', {time.perf_counter() - started:.1f} s on "
              f"{torch.get_num_threads()} threads")
        return model, tokenizer

    return build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("which", choices=["bf16", "int8", "finetune", "all"])
    parser.add_argument("--force", action="store_true", help="rebuild existing folders")
    parser.add_argument("--steps", type=int, default=10,
                        help="AdamW steps (default 10: about 25-45 s each on 2 CPU cores)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--lr", type=float, default=1e-4)
    args = parser.parse_args(argv)
    builds = {
        "bf16": ("smollm2-135m-bf16", bf16),
        "int8": ("smollm2-135m-int8", int8),
        "finetune": ("smollm2-135m-ft-lee",
                     finetune(args.steps, args.batch, args.seq, args.tokens, args.lr)),
    }
    for key in (["bf16", "int8", "finetune"] if args.which == "all" else [args.which]):
        name, build = builds[key]
        save_folder(name, build, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
