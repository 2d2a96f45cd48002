"""Fitting a small TopK sparse autoencoder to one hook point, saved in the SAELens folder layout.

    acts = hook_activations(model, batch, "blocks.4.hook_mlp_out")      # [positions, d_in]
    fitted = fit_topk_sae(acts, TopKFit(d_sae=2048, k=32, seed=0))
    save_sae_folder(folder, fitted, sae_config(...))                     # cfg.json + weights
    embedded_sae_folder("smollm2-135m/topk-mlp-out-L4")                 # fitted once, cached

The SAE is the TopK one of Gao et al. 2024 ("Scaling and evaluating sparse autoencoders"):
`z = TopK(ReLU-after-topk)((x - b_dec) @ W_enc + b_enc)`, `x_hat = z @ W_dec + b_dec`, unit-norm
decoder rows, an AuxK loss on latents dead for a while so fewer stay dead. Fitting is seeded and
runs in float32 on the CPU: the same seed, data and thread count give the same bytes.

The saved folder is what SAELens writes (`cfg.json`, `sae_weights.safetensors` with `W_enc`
[d_in, d_sae], `b_enc` [d_sae], `W_dec` [d_sae, d_in], `b_dec` [d_in], float32). Its cfg.json holds
both generations of the format public releases use: the flat 5.x fields (`architecture`,
`activation_fn_str: "topk"`, `activation_fn_kwargs: {"k": ...}`, `hook_name`, `hook_layer`, ...)
and the 6.x ones (`k`, `reshape_activations`, a `metadata` object), since each SAELens loader
keeps only the fields it knows.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch

from neurontest.engine.data.corpus import load_corpus
from neurontest.engine.models.loading import load_model
from neurontest.engine.progress import progress_task
from neurontest.engine.store.files import TEMP_SUFFIX, locked
from neurontest.engine.store.paths import cache_root

if TYPE_CHECKING:

    from neurontest.engine.data.tokens import TokenBatch

SAE_CFG_FILE = "cfg.json"
SAE_WEIGHTS_FILE = "sae_weights.safetensors"
WEIGHT_SHAPES = {"W_enc": ("d_in", "d_sae"), "b_enc": ("d_sae",), "W_dec": ("d_sae", "d_in"),
                 "b_dec": ("d_in",)}
SAELENS_VERSION = "6.18.0"  # the release whose cfg.json layout these files follow
_FIT_VERSION = 1  # bump when a change to the fitting alters the weights of a named SAE


@dataclass(frozen=True)
class TopKFit:
    """How to fit: width, sparsity, optimiser and data passes. Part of an embedded SAE's name."""

    d_sae: int = 2048
    k: int = 32
    epochs: int = 4
    batch_tokens: int = 1024
    lr: float = 1e-3
    seed: int = 0
    dead_after_tokens: int = 50_000  # a latent silent for this many tokens gets the AuxK loss
    aux_k: int = 256
    aux_weight: float = 1 / 32


@dataclass
class FittedSAE:
    """The four weight tensors and what fitting measured."""

    weights: dict[str, torch.Tensor]
    k: int
    fvu: float  # fraction of variance unexplained on the fitted activations (after fitting)
    dead: int  # latents that never fired in the last epoch
    seconds: float
    tokens: int

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent activations `[..., d_sae]` of activations `x` `[..., d_in]` (TopK, then ReLU)."""
        return topk_encode(x, self.weights, self.k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.weights["W_dec"] + self.weights["b_dec"]


def topk_encode(x: torch.Tensor, weights: dict[str, torch.Tensor], k: int) -> torch.Tensor:
    """SAELens's TopK encoder: keep the k largest pre-activations, ReLU them, zero the rest."""
    pre = (x - weights["b_dec"]) @ weights["W_enc"] + weights["b_enc"]
    top = torch.topk(pre, k, dim=-1, sorted=False)
    return torch.zeros_like(pre).scatter_(-1, top.indices, top.values.relu())


def hook_activations(model: Any, batch: TokenBatch, hook_name: str, layer: int, *,
                     batch_size: int = 32) -> torch.Tensor:
    """`[positions, d]` float32 activations of `hook_name` at every scorable position of `batch`
    (no BOS, no padding: the attention sink's huge norm would dominate a reconstruction loss)."""
    n_layers = int(model.cfg.n_layers)
    stop = layer + 1 if layer + 1 < n_layers else None
    out: list[torch.Tensor] = []
    mask: list[torch.Tensor] = []

    def keep(value: torch.Tensor, hook: Any = None) -> None:
        out.append(value[mask[-1]].detach().float().cpu())

    with torch.inference_mode():
        for start in range(0, len(batch), batch_size):
            rows = batch.tokens[start:start + batch_size]
            mask.append(batch.mask[start:start + batch_size])
            model.run_with_hooks(rows, fwd_hooks=[(hook_name, keep)], stop_at_layer=stop)
    if not out:
        raise ValueError(f"no activations at {hook_name}: the corpus batch is empty")
    return torch.cat(out)


def fit_topk_sae(acts: torch.Tensor, fit: TopKFit, *,
                 on_epoch: Callable[[int, float], None] | None = None) -> FittedSAE:
    """Fit a TopK SAE to `acts` `[positions, d_in]` (float32); seeded and deterministic.
    `on_epoch(epoch, loss)` follows the fit (the progress line's epochs, ETA and loss)."""
    if fit.k < 1 or fit.k > fit.d_sae:
        raise ValueError(f"k must be between 1 and d_sae ({fit.d_sae}), got {fit.k}")
    if acts.ndim != 2 or len(acts) < fit.batch_tokens:
        raise ValueError(f"need [positions, d_in] activations with at least batch_tokens "
                         f"({fit.batch_tokens}) positions, got shape {tuple(acts.shape)}")
    started = time.perf_counter()
    acts = acts.float()
    n, d_in = acts.shape
    gen = torch.Generator().manual_seed(fit.seed)
    # Decoder rows random unit vectors, encoder its transpose, b_dec the data mean: the
    # initialisation of Gao et al., which keeps few latents dead from the start.
    W_dec = torch.randn(fit.d_sae, d_in, generator=gen)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    params = {"W_enc": W_dec.t().clone(), "b_enc": torch.zeros(fit.d_sae), "W_dec": W_dec,
              "b_dec": acts.mean(dim=0)}
    for p in params.values():
        p.requires_grad_(True)
    # Adam's step scales with lr; Gao et al. scale it as 1/sqrt(d_sae / 16k).
    lr = fit.lr * math.sqrt(16384 / fit.d_sae) / 2 if fit.d_sae < 16384 else fit.lr
    opt = torch.optim.Adam(params.values(), lr=lr)
    scale = float(acts.var(dim=0).sum())  # normalises the MSE to a fraction of variance
    since_fired = torch.zeros(fit.d_sae, dtype=torch.long)
    fired_last_epoch = torch.zeros(fit.d_sae, dtype=torch.bool)
    for epoch in range(fit.epochs):
        order = torch.randperm(n, generator=gen)
        fired_last_epoch.zero_()
        for start in range(0, n - fit.batch_tokens + 1, fit.batch_tokens):
            x = acts[order[start:start + fit.batch_tokens]]
            pre = (x - params["b_dec"]) @ params["W_enc"] + params["b_enc"]
            top = torch.topk(pre, fit.k, dim=-1, sorted=False)
            z = torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())
            x_hat = z @ params["W_dec"] + params["b_dec"]
            err = x - x_hat
            loss = err.pow(2).sum(dim=-1).mean() / scale
            fired = torch.zeros(fit.d_sae, dtype=torch.bool)
            fired[top.indices[top.values > 0].unique()] = True
            fired_last_epoch |= fired
            since_fired = torch.where(fired, 0, since_fired + len(x))
            dead = since_fired >= fit.dead_after_tokens
            if dead.any():
                # AuxK: the dead latents' top pre-activations must explain the residual error,
                # which pulls them towards directions the live ones miss.
                k_aux = min(fit.aux_k, int(dead.sum()))
                dead_pre = pre.masked_fill(~dead, float("-inf"))
                aux = torch.topk(dead_pre, k_aux, dim=-1, sorted=False)
                z_aux = torch.zeros_like(pre).scatter(-1, aux.indices, aux.values.relu())
                err_hat = z_aux @ params["W_dec"]
                loss = loss + fit.aux_weight * (err.detach() - err_hat).pow(2).sum(dim=-1).mean() / scale
            opt.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                # Keep decoder rows unit-norm: drop the gradient along each row, then renormalise.
                g = params["W_dec"].grad
                g -= (g * params["W_dec"]).sum(dim=1, keepdim=True) * params["W_dec"]
                opt.step()
                params["W_dec"] /= params["W_dec"].norm(dim=1, keepdim=True)
        if on_epoch is not None:
            on_epoch(epoch + 1, float(loss.detach()))
    weights = {name: p.detach().clone().contiguous() for name, p in params.items()}
    fitted = FittedSAE(weights, fit.k, 0.0, int((~fired_last_epoch).sum()),
                       time.perf_counter() - started, n)
    fitted.fvu = fraction_unexplained(fitted, acts)
    return fitted


def fraction_unexplained(sae: FittedSAE, acts: torch.Tensor, chunk: int = 8192) -> float:
    """FVU: the reconstruction's squared error over the activations' total variance (a mean
    predictor scores 1.0)."""
    err = 0.0
    with torch.no_grad():
        for start in range(0, len(acts), chunk):
            x = acts[start:start + chunk]
            err += float((x - sae.decode(sae.encode(x))).pow(2).sum())
    total = float((acts - acts.mean(dim=0)).pow(2).sum())
    return err / total if total else 0.0


def sae_config(*, d_in: int, fit: TopKFit, model_name: str, hook_name: str, hook_layer: int,
               context_size: int, prepend_bos: bool, dataset_path: str) -> dict[str, Any]:
    """cfg.json as SAELens writes it for a TopK SAE: the 5.x flat fields and the 6.x ones."""
    metadata = {
        "sae_lens_version": SAELENS_VERSION, "sae_lens_training_version": SAELENS_VERSION,
        "model_name": model_name, "hook_name": hook_name, "hook_head_index": None,
        "model_class_name": "HookedTransformer", "prepend_bos": prepend_bos,
        "context_size": context_size, "dataset_path": dataset_path, "seqpos_slice": [None],
        "model_from_pretrained_kwargs": {}, "neuronpedia_id": None,
    }
    return {
        "architecture": "topk",
        "d_in": d_in,
        "d_sae": fit.d_sae,
        "dtype": "float32",
        "device": "cpu",
        "model_name": model_name,
        "hook_name": hook_name,
        "hook_layer": hook_layer,
        "hook_head_index": None,
        "activation_fn_str": "topk",
        "activation_fn_kwargs": {"k": fit.k},
        "apply_b_dec_to_input": True,
        "finetuning_scaling_factor": False,
        "sae_lens_training_version": SAELENS_VERSION,
        "prepend_bos": prepend_bos,
        "dataset_path": dataset_path,
        "dataset_trust_remote_code": False,
        "context_size": context_size,
        "normalize_activations": "none",
        "neuronpedia_id": None,
        "model_from_pretrained_kwargs": {},
        "seqpos_slice": [None],
        "k": fit.k,
        "rescale_acts_by_decoder_norm": False,
        "reshape_activations": "none",
        "metadata": metadata,
        # Not read by SAELens (it ignores unknown keys): how neurontest fitted it.
        "neurontest_fit": asdict(fit) | {"fit_version": _FIT_VERSION},
    }


def save_sae_folder(folder: Path | str, sae: FittedSAE, cfg: dict[str, Any]) -> Path:
    """Write `cfg.json` and `sae_weights.safetensors` into a staging folder beside `folder`,
    then rename it into place: a reader sees the whole SAE or none. Raises FileExistsError if a
    folder is already there (SAEs are written once, never replaced under a reader)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=TEMP_SUFFIX, dir=folder.parent))
    try:
        save_file({name: sae.weights[name].float().contiguous() for name in WEIGHT_SHAPES},
                  str(staging / SAE_WEIGHTS_FILE))
        stats = {"fvu": sae.fvu, "dead_latents": sae.dead, "fit_seconds": round(sae.seconds, 1),
                 "fit_tokens": sae.tokens}
        cfg = cfg | {"neurontest_fit": dict(cfg.get("neurontest_fit", {})) | stats}
        (staging / SAE_CFG_FILE).write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
        os.rename(staging, folder)  # fails (does not replace) if `folder` exists and is non-empty
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


# -- SAEs neurontest fits for the embedded model ----------------------------------------------
@dataclass(frozen=True)
class EmbeddedSAE:
    """A named SAE fitted on the embedded model and corpus: where, and how."""

    model: str
    layer: int
    site: str  # the hook point's name after `blocks.{layer}.`
    fit: TopKFit
    corpus: str | None = None  # corpus spec (None: the embedded wiki-sample)
    corpus_tokens: int = 100_000

    @property
    def hook_name(self) -> str:
        return f"blocks.{self.layer}.{self.site}"


EMBEDDED_SAES: dict[str, EmbeddedSAE] = {
    "smollm2-135m/topk-mlp-out-L4": EmbeddedSAE("smollm2-135m", 4, "hook_mlp_out", TopKFit()),
}


def embedded_sae_folder(name: str, *, progress: bool = True) -> Path | None:
    """The cached SAELens folder of a known SAE name (fitted once, on first use), else None.

    Concurrent first uses fit once: the first takes the lock and fits, the others wait and find
    the folder; the folder appears whole (staging folder, then rename) or not at all."""
    spec = EMBEDDED_SAES.get(name)
    if spec is None:
        return None
    folder = embedded_sae_path(name)
    if _complete(folder):
        return folder
    with locked(folder.parent / f".{folder.name}.lock"):
        if _complete(folder):
            return folder  # another process fitted it while this one waited
        if folder.exists():  # not written by save_sae_folder (which renames whole folders)
            shutil.rmtree(folder, ignore_errors=True)
        for leftover in folder.parent.glob(f".{folder.name}.*{TEMP_SUFFIX}"):
            shutil.rmtree(leftover, ignore_errors=True)  # a killed fit's staging folder
        fit_embedded(spec, folder, progress=progress)
    return folder


def embedded_sae_path(name: str) -> Path:
    """Where a named SAE is (or will be) cached; the fit settings' version is in the path."""
    return cache_root() / "saes" / f"{name.replace('/', '--')}-v{_FIT_VERSION}"


def fit_embedded(spec: EmbeddedSAE, folder: Path, *, progress: bool = True) -> FittedSAE:
    """Fit `spec` on its model and corpus and save it to `folder`."""
    model = load_model(spec.model)
    with progress_task(f"preparing corpus {spec.corpus or 'wiki-sample'} for the SAE fit",
                       phase="corpus"):
        sample = load_corpus(spec.corpus).tokenize(model.tokenizer, n_tokens=spec.corpus_tokens)
    name = (f"fitting SAE {spec.hook_name} (d_sae {spec.fit.d_sae}, k {spec.fit.k}) on "
            f"{sample.n_tokens:,} corpus tokens, once (cached in {folder.parent})")
    with progress_task(name, total=spec.fit.epochs, unit="epochs", bar=progress,
                       phase="SAE fits") as task:
        acts = hook_activations(model, sample.batch, spec.hook_name, spec.layer)
        fitted = fit_topk_sae(acts, spec.fit,
                              on_epoch=lambda epoch, loss: task.advance(1, f"loss {loss:.4f}"))
        task.event.note = (f"FVU {fitted.fvu:.3f}, {fitted.dead} dead latents, done")
    cfg = sae_config(d_in=int(acts.shape[1]), fit=spec.fit, model_name=spec.model,
                     hook_name=spec.hook_name, hook_layer=spec.layer,
                     context_size=int(sample.batch.tokens.shape[1]),
                     prepend_bos=sample.batch.has_bos, dataset_path=sample.name)
    save_sae_folder(folder, fitted, cfg)
    return fitted


def _complete(folder: Path) -> bool:
    return (folder / SAE_CFG_FILE).is_file() and (folder / SAE_WEIGHTS_FILE).is_file()
