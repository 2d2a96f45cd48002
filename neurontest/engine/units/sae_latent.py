"""Sparse autoencoder and transcoder latents as units, read from the two common on-disk layouts.

(a) SAELens / Gemma Scope: a folder with `cfg.json` (d_in, d_sae, hook_name, or in SAELens 6
    `metadata.hook_name`; architecture standard|jumprelu|topk, or the older
    activation_fn_str/activation_fn + activation_fn_kwargs.k; apply_b_dec_to_input; dtype) and
    `sae_weights.safetensors` (W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in],
    b_dec [d_in], `threshold` [d_sae] for JumpReLU).
(b) EleutherAI sparsify: one folder per hook point (`layers.6`, `layers.6.mlp`) with `cfg.json`
    (d_in, k, num_latents or expansion_factor, transcode, skip_connection) and `sae.safetensors`
    (encoder.weight [d_sae, d_in], encoder.bias, W_dec [d_sae, d_in], b_dec [d_in]); always
    ReLU then TopK; a transcoder reads the MLP's input and writes its output.

`sae-lens` cannot be a dependency (it pins transformer-lens < 4), so the files are read with
`safetensors` directly. A latent's activation is the encoder on the hook's value, restricted to the
latents asked for (ReLU, JumpReLU); TopK needs every pre-activation to find the k-th largest.
Ablation/steering adds (v - a) (or v) times the decoder row to the written hook, so the SAE's
reconstruction error stays and the model is otherwise unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from neurontest.engine.units.hooks import check_hook, hook_layer, hook_width, residual_vector

ACTIVATIONS = ("relu", "jumprelu", "topk")
_SPARSIFY_HOOK = re.compile(r"^(?:model\.)?(?:layers|h|gpt_neox\.layers|transformer\.h)\.(\d+)(?:\.(mlp|self_attn|attn))?$")


@dataclass(eq=False)
class Sae:
    """One SAE or transcoder: float32 CPU weights, the hook it reads and the hook it writes."""

    name: str
    source: str
    hook_in: str
    hook_out: str
    activation: str  # relu | jumprelu | topk
    W_enc: Any  # [d_in, d_sae]
    b_enc: Any
    W_dec: Any  # [d_sae, d_out]
    b_dec: Any
    threshold: Any = None
    k: int | None = None
    subtract_b_dec: bool = True  # encode (x - b_dec): SAELens apply_b_dec_to_input, sparsify SAEs
    layout: str = "saelens"
    key: str = field(default="")

    def __post_init__(self) -> None:
        if not self.key:
            digest = hashlib.sha256()
            for t in (self.W_enc, self.b_enc, self.W_dec, self.b_dec):
                digest.update(t.contiguous().numpy().tobytes()[:1 << 20])
                digest.update(str(tuple(t.shape)).encode())
            digest.update(f"{self.hook_in}|{self.hook_out}|{self.activation}|{self.k}".encode())
            self.key = digest.hexdigest()[:16]

    @property
    def d_sae(self) -> int:
        return int(self.W_enc.shape[1])

    @property
    def transcoder(self) -> bool:
        return self.hook_in != self.hook_out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sae) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:  # result-cache keys hold it: name the weights, never print them
        return f"Sae({self.name!r}, {self.hook_in!r}, key={self.key!r})"

    def latent(self, index: int) -> SaeLatent:
        return SaeLatent(self, int(index))

    def pre_activations(self, x: torch.Tensor, columns: Sequence[int] | None = None) -> torch.Tensor:
        """x @ W_enc + b_enc (after subtracting b_dec where the SAE does), for `columns` only."""
        w, b = self.W_enc, self.b_enc
        if columns is not None:
            w, b = w[:, list(columns)], b[list(columns)]
        if self.subtract_b_dec and not self.transcoder:
            x = x - self.b_dec.to(x.device, x.dtype)
        return x @ w.to(x.device, x.dtype) + b.to(x.device, x.dtype)

    def encode(self, x: torch.Tensor, columns: Sequence[int]) -> torch.Tensor:
        """`[..., d_in] -> [..., len(columns)]`: the latents' activations."""
        columns = list(columns)
        if self.activation == "topk":
            # The k-th largest (post-ReLU) pre-activation over all latents decides who is kept.
            pre_all = torch.relu(self.pre_activations(x))
            kth = pre_all.topk(int(self.k or 1), dim=-1).values[..., -1:]
            pre = pre_all[..., columns]
            return torch.where(pre >= kth, pre, torch.zeros_like(pre))
        pre = self.pre_activations(x, columns)
        if self.activation == "jumprelu":
            theta = self.threshold[columns].to(x.device, x.dtype)
            return torch.where(pre > theta, pre, torch.zeros_like(pre))
        return torch.relu(pre)


@dataclass(frozen=True)
class SaeLatent:
    """Latent `latent` of `sae`; short id `<sae name>#<latent>`."""

    kind: ClassVar[str] = "latent"
    mlp_tail: ClassVar[bool] = False

    sae: Sae
    latent: int

    @property
    def hook_name(self) -> str:
        return self.sae.hook_in

    @property
    def layer(self) -> int:
        return max(hook_layer(self.sae.hook_in), hook_layer(self.sae.hook_out))

    @property
    def short_id(self) -> str:
        return f"{self.sae.name}#{self.latent}"

    @property
    def address(self) -> str:
        return f"{self.sae.source} @ {self.sae.hook_in} [latent {self.latent}]"

    @property
    def cache_key(self) -> str:
        return f"sae-{self.sae.key}-{self.latent}"

    @property
    def group(self) -> tuple[str, str]:
        return (self.kind, self.sae.key)

    def __str__(self) -> str:
        return self.short_id

    def check(self, model: Any) -> None:
        if not 0 <= self.latent < self.sae.d_sae:
            raise ValueError(f"{self.short_id}: latent {self.latent} is out of range; the SAE has "
                             f"latents 0..{self.sae.d_sae - 1}")
        for hook, width in ((self.sae.hook_in, int(self.sae.W_enc.shape[0])),
                            (self.sae.hook_out, int(self.sae.W_dec.shape[1]))):
            check_hook(model, hook)
            expected = hook_width(model, hook)
            if expected is not None and expected != width:
                raise ValueError(f"{self.short_id}: the SAE is {width} wide at {hook}, the model "
                                 f"{expected}; it was trained on another model or hook")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.sae.source, "hook": self.sae.hook_in,
                "latent": self.latent, "key": self.sae.key}

    @classmethod
    def reader(cls, model: Any, units: Sequence[SaeLatent]) -> Callable[[torch.Tensor], torch.Tensor]:
        """`value [..., pos, d_in] -> [..., pos, k]`: one encoder matmul for all the latents."""
        sae, columns = units[0].sae, [u.latent for u in units]

        def read(value: torch.Tensor) -> torch.Tensor:
            return sae.encode(value.float(), columns)

        return read

    @classmethod
    def editors(cls, model: Any, values: Mapping[SaeLatent, float], *,
                add: bool = False) -> list[tuple[str, Callable[..., Any]]]:
        """Add (target - a) x decoder row (or target x row with `add`) to the written hook, for
        each latent: everything the SAE does not reconstruct stays."""
        by_sae: dict[Sae, list[SaeLatent]] = {}
        for ref in values:
            by_sae.setdefault(ref.sae, []).append(ref)
        hooks: list[tuple[str, Callable[..., Any]]] = []
        for sae, refs in by_sae.items():
            hooks += _sae_editors(sae, refs, [float(values[r]) for r in refs], add)
        return hooks

    @classmethod
    def state_reader(cls, model: Any, units: Sequence[SaeLatent]) -> Callable[[torch.Tensor], torch.Tensor]:
        """What patching copies between runs: the latents' activations (`[..., pos, k]`)."""
        return cls.reader(model, units)

    @classmethod
    def patchers(cls, model: Any, states: Mapping[SaeLatent, torch.Tensor],
                 where: torch.Tensor) -> list[tuple[str, Callable[..., Any]]]:
        """Where `where` is True, move each latent to `states[latent]` (`[batch, pos]`) through
        its decoder row: the SAE's error term and every other latent stay as the run has them."""
        by_sae: dict[Sae, list[SaeLatent]] = {}
        for ref in states:
            by_sae.setdefault(ref.sae, []).append(ref)
        hooks: list[tuple[str, Callable[..., Any]]] = []
        for sae, refs in by_sae.items():
            goal = torch.stack([states[r] for r in refs], dim=-1)

            def coeff(acts: torch.Tensor, value: torch.Tensor, goal: torch.Tensor = goal) -> torch.Tensor:
                mask = where.to(value.device)[..., None]
                delta = goal.to(value.device, value.dtype) - acts.to(value.dtype)
                return torch.where(mask, delta, torch.zeros_like(delta))

            hooks += _sae_hooks(sae, refs, coeff)
        return hooks

    def output_direction(self, model: Any) -> torch.Tensor:
        return residual_vector(model, self.sae.hook_out, self.sae.W_dec[self.latent])


def _sae_editors(sae: Sae, refs: list[SaeLatent], targets: list[float],
                 add: bool) -> list[tuple[str, Callable[..., Any]]]:
    goal = torch.tensor(targets)

    def coeff(acts: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        g = goal.to(value.device, value.dtype)
        return g.expand_as(acts).to(value.dtype) if add else g - acts.to(value.dtype)

    return _sae_hooks(sae, refs, coeff)


def _sae_hooks(sae: Sae, refs: list[SaeLatent],
               coeff: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> list[tuple[str, Callable[..., Any]]]:
    """Hooks adding `coeff(acts, value) @ decoder rows` to the written hook, where `acts` are the
    latents' activations in this run ([..., pos, k]): only the latents' contribution moves."""
    columns = [r.latent for r in refs]
    held: dict[str, torch.Tensor] = {}

    def shift(acts: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        return value + coeff(acts, value) @ sae.W_dec[columns].to(value.device, value.dtype)

    if not sae.transcoder:
        def edit(value: torch.Tensor, hook: Any = None) -> torch.Tensor:
            return shift(sae.encode(value.float(), columns), value)

        return [(sae.hook_in, edit)]

    # A transcoder reads the MLP's input and writes its output: keep the activations from the
    # first hook for the second.
    def keep(value: torch.Tensor, hook: Any = None) -> None:
        held["acts"] = sae.encode(value.float(), columns)

    def write(value: torch.Tensor, hook: Any = None) -> torch.Tensor:
        acts = held.pop("acts")
        return shift(acts[..., -value.shape[-2]:, :] if acts.shape[-2] != value.shape[-2] else acts,
                     value)

    return [(sae.hook_in, keep), (sae.hook_out, write)]


def read_sae_folder(folder: Path, *, hook: str | None = None, name: str | None = None,
                    source: str | None = None) -> Sae:
    """Read one SAE folder in layout (a) or (b) (ValueError naming the file and the fix)."""
    folder = Path(folder)
    cfg_path = folder / "cfg.json"
    if not cfg_path.is_file():
        raise ValueError(f"SAE folder {str(folder)!r} has no cfg.json; point at the folder of one "
                         "hook point (SAELens or sparsify layout)")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{cfg_path}: not readable JSON ({exc})") from None
    name = name or folder.name
    source = source or str(folder)
    if (folder / "sae_weights.safetensors").is_file():
        return _saelens(folder, cfg, hook, name, source)
    if (folder / "sae.safetensors").is_file():
        return _sparsify(folder, cfg, hook, name, source)
    raise ValueError(f"SAE folder {str(folder)!r} has cfg.json but neither sae_weights.safetensors "
                     "(SAELens) nor sae.safetensors (sparsify)")


def _tensors(path: Path, required: Sequence[str]) -> dict[str, Any]:
    from safetensors.torch import load_file

    try:
        raw = load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - a damaged file is one clear line
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None
    missing = [k for k in required if k not in raw]
    if missing:
        raise ValueError(f"{path}: missing tensor(s) {', '.join(missing)}; found {', '.join(sorted(raw))}")
    return {k: v.float().contiguous() for k, v in raw.items()}  # bfloat16/float16 files too


def _saelens(folder: Path, cfg: dict[str, Any], hook: str | None, name: str, source: str) -> Sae:
    path = folder / "sae_weights.safetensors"
    t = _tensors(path, ("W_enc", "b_enc", "W_dec", "b_dec"))
    meta = cfg.get("metadata") or {}
    hook_name = hook or cfg.get("hook_name") or meta.get("hook_name")
    if not hook_name:
        raise ValueError(f"{folder / 'cfg.json'}: no hook_name; add `hook:` to name the hook point")
    arch = str(cfg.get("architecture") or "").lower()
    act = str(cfg.get("activation_fn_str") or cfg.get("activation_fn") or "relu").lower()
    kwargs = cfg.get("activation_fn_kwargs") or {}
    k = cfg.get("k", kwargs.get("k"))
    if arch in ("jumprelu",) or "threshold" in t and arch not in ("standard", "topk"):
        activation = "jumprelu"
    elif arch == "topk" or act == "topk":
        activation = "topk"
    elif arch in ("", "standard") and act == "relu":
        activation = "relu"
    else:
        raise ValueError(f"{folder / 'cfg.json'}: architecture {arch or act!r} is not supported; "
                         f"neurontest reads {', '.join(ACTIVATIONS)} SAEs")
    if activation == "jumprelu" and "threshold" not in t:
        raise ValueError(f"{path}: a JumpReLU SAE needs a `threshold` tensor")
    if activation == "topk" and not k:
        raise ValueError(f"{folder / 'cfg.json'}: a TopK SAE needs `k`")
    norm = str(cfg.get("normalize_activations") or "none")
    if norm not in ("none", "None"):
        raise ValueError(f"{folder / 'cfg.json'}: normalize_activations={norm!r} is not supported; "
                         "use an SAE trained without input normalisation")
    d_in, d_sae = int(cfg.get("d_in", t["W_enc"].shape[0])), int(cfg.get("d_sae", t["W_enc"].shape[1]))
    _check_shapes(path, t, {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in),
                            "b_dec": (d_in,), **({"threshold": (d_sae,)} if activation == "jumprelu" else {})})
    hook_layer(hook_name)
    return Sae(name, source, hook_name, hook_name, activation, t["W_enc"], t["b_enc"], t["W_dec"],
               t["b_dec"], t.get("threshold"), int(k) if k else None,
               bool(cfg.get("apply_b_dec_to_input", activation != "jumprelu")), "saelens")


def _sparsify(folder: Path, cfg: dict[str, Any], hook: str | None, name: str, source: str) -> Sae:
    path = folder / "sae.safetensors"
    t = _tensors(path, ("encoder.weight", "encoder.bias", "W_dec", "b_dec"))
    if cfg.get("skip_connection") or "W_skip" in t:
        raise ValueError(f"{folder / 'cfg.json'}: skip-connection transcoders are not supported")
    if str(cfg.get("activation", "topk")) != "topk":
        raise ValueError(f"{folder / 'cfg.json'}: activation {cfg.get('activation')!r} is not "
                         "supported; neurontest reads TopK sparse coders")
    d_in = int(cfg.get("d_in", t["encoder.weight"].shape[1]))
    d_sae = int(cfg.get("num_latents") or d_in * int(cfg.get("expansion_factor", 32)))
    _check_shapes(path, t, {"encoder.weight": (d_sae, d_in), "encoder.bias": (d_sae,),
                            "W_dec": (d_sae, d_in), "b_dec": (d_in,)})
    transcode = bool(cfg.get("transcode", False))
    hook_in, hook_out = _sparsify_hooks(folder, hook, transcode)
    return Sae(name, source, hook_in, hook_out, "topk", t["encoder.weight"].T.contiguous(),
               t["encoder.bias"], t["W_dec"], t["b_dec"], None, int(cfg.get("k", 32)),
               not transcode, "sparsify")


def _sparsify_hooks(folder: Path, hook: str | None, transcode: bool) -> tuple[str, str]:
    """sparsify names a folder after the HF module it hooks (`layers.6`, `layers.6.mlp`): the
    module's output for an SAE; for a transcoder, the module's input and output."""
    if hook:
        hook_layer(hook)
        if transcode:
            raise ValueError(f"SAE folder {str(folder)!r}: `hook:` cannot be given for a "
                             "transcoder; name its folder layers.<L>.mlp")
        return hook, hook
    match = _SPARSIFY_HOOK.match(folder.name)
    if not match:
        raise ValueError(f"SAE folder {str(folder)!r}: cannot tell the hook point from the folder "
                         "name; add `hook:` (e.g. blocks.6.hook_resid_post)")
    layer, module = int(match.group(1)), match.group(2)
    if module == "mlp":
        out = f"blocks.{layer}.hook_mlp_out"
        return (f"blocks.{layer}.mlp.hook_in" if transcode else out), out
    if transcode:
        raise ValueError(f"SAE folder {str(folder)!r}: a transcoder must hook an MLP (layers.<L>.mlp)")
    if module in ("self_attn", "attn"):
        return f"blocks.{layer}.hook_attn_out", f"blocks.{layer}.hook_attn_out"
    return f"blocks.{layer}.hook_resid_post", f"blocks.{layer}.hook_resid_post"


def _check_shapes(path: Path, tensors: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> None:
    for key, shape in shapes.items():
        if tuple(tensors[key].shape) != shape:
            raise ValueError(f"{path}: {key} has shape {tuple(tensors[key].shape)}, expected "
                             f"{shape} from cfg.json")
