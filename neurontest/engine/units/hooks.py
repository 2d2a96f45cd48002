"""Hook names as units use them: which block a hook is in, whether the model has it, how wide its
value is, and how a vector written at a hook reaches the residual stream (for logit attribution).

A unit (neuron, attention head, SAE latent, direction) is read from one TransformerLens hook;
these helpers are what every kind of unit shares about that hook.
"""

from __future__ import annotations

import re
from typing import Any

import torch

_BLOCK = re.compile(r"^blocks\.(\d+)\.")
# Hooks whose value lives in the residual stream's basis and is added to it as is: a vector
# there reaches the final norm directly.
_RESIDUAL = re.compile(
    r"^blocks\.\d+\.(hook_resid_pre|hook_resid_mid|hook_resid_post|hook_mlp_out|hook_attn_out"
    r"|mlp\.hook_out|attn\.hook_out)$"
)
_MLP_NEURONS = re.compile(r"^blocks\.(\d+)\.mlp\.(hook_post|hook_pre|hook_pre_linear)$")


def hook_layer(hook_name: str) -> int:
    """The block index of `blocks.{L}.…` (ValueError for a hook outside the blocks)."""
    match = _BLOCK.match(hook_name)
    if not match:
        raise ValueError(
            f"hook {hook_name!r} is not inside a block: name one like blocks.5.hook_resid_post"
        )
    return int(match.group(1))


def is_residual(hook_name: str) -> bool:
    """Whether a vector at this hook is a vector in the residual stream."""
    return bool(_RESIDUAL.match(hook_name))


def check_hook(model: Any, hook_name: str) -> None:
    """ValueError naming a few close hook names when the model has no hook `hook_name`."""
    import difflib

    points = getattr(model, "hook_dict", {})
    if hook_name in points:
        return
    close = difflib.get_close_matches(hook_name, list(points), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"hook {hook_name!r} is not in the model{hint}")


def hook_width(model: Any, hook_name: str) -> int | None:
    """The size of the last axis at this hook, where it is known from the config (else None)."""
    if is_residual(hook_name) or hook_name.endswith(("mlp.hook_in", "ln2.hook_normalized")):
        return int(model.cfg.d_model)
    if _MLP_NEURONS.match(hook_name):
        return int(model.cfg.d_mlp)
    return None


def residual_vector(model: Any, hook_name: str, vector: torch.Tensor) -> torch.Tensor:
    """What one unit of `vector` written at `hook_name` adds to the residual stream (float32 CPU).

    Residual-basis hooks pass it through; MLP neuron space goes through that layer's W_out.
    Anywhere else the path to the logits is not linear, so there is no output direction."""
    vector = vector.detach().float().cpu()
    if is_residual(hook_name):
        return vector
    match = _MLP_NEURONS.match(hook_name)
    if match and match.group(2) == "hook_post":
        with torch.inference_mode():
            w_out = model.blocks[int(match.group(1))].mlp.W_out.detach().float().cpu()
        return vector @ w_out
    raise ValueError(
        f"no output direction at {hook_name!r}: logit attribution needs a unit written into the "
        "residual stream (hook_resid_*, hook_mlp_out, hook_attn_out) or blocks.L.mlp.hook_post"
    )
