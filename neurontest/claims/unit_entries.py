"""How a hypothesis file names its unit (the `Units` section of docs/hypothesis-format.md).

    - id: L3N946                       # an MLP neuron (or `layer: 3` + `neuron: 946`)
    - id: L5H3                         # attention head 3 of layer 5
    - sae: saes/layers.3.mlp           # an SAE folder (SAELens or sparsify layout), an embedded
      latent: 1234                     #   name (smollm2-135m/topk-mlp-out-L3) or a hub repo
      hook: blocks.3.hook_mlp_out      #   optional: the hook point, for sparsify folders
    - direction: probes/negation.npy   # a vector (.pt/.npy/.safetensors) at a hook
      hook: blocks.5.hook_resid_post

Paths are relative to the hypothesis file. Every problem is one ValueError line with the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neurontest.engine.units.direction import DirectionUnit
from neurontest.engine.units.head import HeadRef
from neurontest.engine.units.neuron import NeuronRef
from neurontest.engine.models.sae_loading import load_sae
from neurontest.engine.units.sae_latent import SaeLatent
from neurontest.engine.units.protocol import parse_unit_id

_FORMS = ("`id: L3N946`, `id: L5H3`, `layer:` + `neuron:`, `sae:` + `latent:`, or "
          "`direction:` + `hook:`")


def unit_from_entry(item: Mapping[str, Any], base_dir: Path | None = None) -> Any:
    """The unit one entry of `neurons:` names (ValueError with the fix)."""
    given = [k for k in ("id", "sae", "direction") if k in item]
    if "layer" in item or "neuron" in item:
        given.append("layer")
    if len(given) > 1:
        raise ValueError(f"give one unit per entry, not {' and '.join(f'`{g}:`' for g in given)}: "
                         f"use {_FORMS}")
    if not given:
        raise ValueError(f"an entry needs a unit: {_FORMS}")
    form = given[0]
    if form != "sae" and "latent" in item:
        raise ValueError("`latent:` goes with `sae:`")
    if form not in ("sae", "direction") and "hook" in item:
        raise ValueError("`hook:` goes with `direction:` or `sae:`")
    if form == "id":
        if not isinstance(item["id"], str):
            raise ValueError(f"`id:` is a string like L1N298 or L5H3, got {_short(item['id'])}")
        return parse_unit_id(item["id"])
    if form == "layer":
        if "layer" not in item or "neuron" not in item:
            raise ValueError("a neuron needs `id: L<layer>N<index>` or both `layer:` and `neuron:`")
        for key in ("layer", "neuron"):  # never truncate `layer: 0.9` to 0
            value = item[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"`{key}:` is a whole number >= 0, got {_short(value)}")
        return NeuronRef(item["layer"], item["neuron"])
    if form == "sae":
        if "latent" not in item:
            raise ValueError("an SAE unit needs `latent: <index>` beside `sae:`")
        latent = item["latent"]
        if isinstance(latent, bool) or not isinstance(latent, int):
            raise ValueError(f"`latent:` is a latent index (an integer), got {latent!r}")
        hook = item.get("hook")
        sae = load_sae(str(item["sae"]), base_dir=base_dir, hook=None if hook is None else str(hook))
        if not 0 <= latent < sae.d_sae:
            raise ValueError(f"latent {latent} is out of range; {sae.name} has latents "
                             f"0..{sae.d_sae - 1}")
        return sae.latent(latent)
    if "hook" not in item:
        raise ValueError("a direction needs `hook:` naming where it lives, e.g. "
                         "blocks.5.hook_resid_post")
    path = Path(str(item["direction"])).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return DirectionUnit.load(path, str(item["hook"]))


def _short(value: Any) -> str:
    """A value for a one-line message: its repr cut at 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def unit_from_text(text: str, base_dir: Path | None = None) -> Any:
    """A unit from its short form on a command line: `L3N946`, `L5H3`, or `<sae>#<latent>`
    (an SAE folder, embedded name or hub repo, then the latent index). ValueError with the fix."""
    if "#" not in text:
        return parse_unit_id(text)
    spec, _, index = text.rpartition("#")
    if not index.isdigit():
        raise ValueError(f"{text!r}: write an SAE latent as <sae>#<index>, e.g. "
                         "smollm2-135m/topk-mlp-out-L4#948")
    sae = load_sae(spec, base_dir=base_dir)
    if not 0 <= int(index) < sae.d_sae:
        raise ValueError(f"latent {index} is out of range; {sae.name} has latents 0..{sae.d_sae - 1}")
    return sae.latent(int(index))


def unit_from_option(value: Any, base_dir: Path | None = None) -> Any:
    """A unit named inside a claim's option (`units:`, `through:`): its short form, as on a
    command line, or an entry's keys."""
    if isinstance(value, str):
        return unit_from_text(value, base_dir)
    if isinstance(value, Mapping):
        return unit_from_entry(value, base_dir)
    raise ValueError(f"a unit is an id like L3N946 or L5H3, <sae>#<latent>, or an entry's keys "
                     f"({_FORMS}), got {_short(value)}")


def unit_entry(unit: Any) -> dict[str, Any]:
    """The keys that name `unit` in an entry of `neurons:` (the inverse of `unit_from_entry`)."""
    if isinstance(unit, (NeuronRef, HeadRef)):
        return {"id": unit.short_id}
    if isinstance(unit, SaeLatent):
        return {"sae": unit.sae.source, "latent": unit.latent, "hook": unit.sae.hook_in}
    if isinstance(unit, DirectionUnit):
        if not unit.source:
            raise ValueError(f"{unit.short_id} was not read from a file: save its vector to one")
        return {"direction": unit.source, "hook": unit.hook_name}
    raise ValueError(f"no hypothesis-file form for a {type(unit).__name__}")
