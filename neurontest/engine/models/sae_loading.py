"""SAEs by name: a local folder (either layout), an embedded name (fitted on first use), or a hub
repo; and units rebuilt from plain data, which may need their SAE loaded again.

This sits above `units` (which reads SAE folders) because an embedded name may need a fit, and a
fit needs a model and a corpus.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neurontest.engine.models.sae_fit import embedded_sae_folder
from neurontest.engine.units.direction import DirectionUnit
from neurontest.engine.units.head import HeadRef
from neurontest.engine.units.neuron import NeuronRef
from neurontest.engine.units.protocol import UNIT_KINDS
from neurontest.engine.units.sae_latent import Sae, read_sae_folder
from neurontest.errors import ModelUnavailableError

_LOADED: dict[str, Sae] = {}  # one copy of each SAE's weights per process


def load_sae(spec: str | Path, *, base_dir: Path | None = None, hook: str | None = None,
             name: str | None = None) -> Sae:
    """An SAE from a local folder (either layout), an embedded name (fitted on first use by
    neurontest.engine.models.sae_fit), or a hub repo `owner/repo[/sub/folder]` (online only).

    `hook` overrides the hook point (needed for sparsify folders whose name is not a layer)."""
    text = str(spec)
    key = f"{text}|{base_dir}|{hook}|{name}"
    if key in _LOADED:
        return _LOADED[key]
    folder, local = _resolve(text, base_dir)
    # A local folder is recorded by its absolute path, so a remembered result (or an xdist
    # worker) finds it again from any working directory; names and hub repos stay as given.
    sae = read_sae_folder(folder, hook=hook, name=name or _default_name(text),
                          source=str(folder.resolve()) if local else text)
    _LOADED[key] = sae
    return sae


def _default_name(text: str) -> str:
    parts = [p for p in re.split(r"[\\/]", text) if p]
    return "/".join(parts[-2:]) if len(parts) > 1 else (parts[0] if parts else text)


def _resolve(text: str, base_dir: Path | None) -> tuple[Path, bool]:
    """(folder, whether `text` named a local folder)."""
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
        path = base_dir / path
    if path.is_dir():
        return path, True
    embedded = embedded_sae_folder(text)
    if embedded is not None:
        return Path(embedded), False
    # A path whose parent folder exists here is a local folder that is missing, not a hub repo.
    near = (base_dir / path).parent if base_dir is not None and not path.is_absolute() else path.parent
    if text.startswith((".", "/", "~")) or text.count("/") < 1 or (
            str(path.parent) not in ("", ".") and (near.is_dir() or path.parent.is_dir())):
        raise ValueError(f"SAE {text!r}: no such folder; give a folder with cfg.json and "
                         "sae_weights.safetensors (or sae.safetensors), or a hub repo owner/name")
    return _download(text), False


def _download(text: str) -> Path:
    """`owner/repo` or `owner/repo/sub/folder` from the Hugging Face hub (online users)."""
    parts = text.split("/")
    repo, sub = "/".join(parts[:2]), "/".join(parts[2:])
    try:
        from huggingface_hub import snapshot_download

        root = Path(snapshot_download(repo, allow_patterns=[f"{sub}/*"] if sub else None))
    except Exception as exc:  # noqa: BLE001 - offline, unknown repo, no permission: one line
        raise ModelUnavailableError(
            f"SAE {text!r}: cannot download from the hub ({type(exc).__name__}); offline, give a "
            "local folder with cfg.json and the weights instead") from None
    return root / sub if sub else root


def unit_from_dict(data: Mapping[str, Any]) -> Any:
    """The inverse of `unit_to_dict` (an SAE is reloaded from its source)."""
    kind = data.get("kind", "neuron")
    if kind == "neuron":
        return NeuronRef(int(data["layer"]), int(data["index"]))
    if kind == "head":
        return HeadRef(int(data["layer"]), int(data["head"]))
    if kind == "direction":
        return DirectionUnit.from_dict(data)
    if kind == "latent":
        sae = load_sae(data["source"], hook=data.get("hook"))
        return sae.latent(int(data["latent"]))
    raise ValueError(f"unknown unit kind {kind!r}: expected one of {', '.join(UNIT_KINDS)}")
