"""Where a model's weights go: one device, or split over several GPUs (`--neurontest-device`).

    cpu | cuda | cuda:1 | mps       one device (the model moves there whole)
    cuda:0,cuda:1                   split over these GPUs (accelerate's balanced layer dispatch)
    auto                            split over every visible GPU (accelerate's device_map="auto")

The split forms map onto TransformerBridge.boot_transformers' `n_devices` / `device_map` /
`max_memory` (TransformerLens 4.x). Only the argument handling is tested here: the split forms
have not been run on real multi-GPU hardware by this project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

_SINGLE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
_SPLIT_MAPS = ("auto", "balanced")


@dataclass(frozen=True)
class Placement:
    """A parsed `--neurontest-device` value."""

    spec: str
    device: str | None = None          # a single device
    device_map: str | None = None      # "auto" / "balanced" over every visible GPU
    gpus: tuple[int, ...] = ()         # an explicit list of CUDA devices to split over

    @property
    def split(self) -> bool:
        """True when the weights are spread over several devices."""
        return self.device_map is not None or len(self.gpus) > 1

    @property
    def uses_cuda(self) -> bool:
        return bool(self.gpus) or self.device_map is not None or (self.device or "").startswith("cuda")

    def boot_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `TransformerBridge.boot_transformers` (device and device_map are
        mutually exclusive there)."""
        if self.device_map is not None:
            return {"device_map": self.device_map}
        if len(self.gpus) > 1:
            if self.gpus == tuple(range(len(self.gpus))):
                return {"n_devices": len(self.gpus)}
            # Not the first k devices: the dispatcher gets a memory budget on these GPUs only.
            return {"device_map": "balanced", "max_memory": _free_memory(self.gpus)}
        return {"device": self.device}

    def gpus_per_replica(self) -> int:
        """GPUs one model replica occupies (what a Ray actor reserves with `num_gpus`)."""
        if self.device_map is not None:
            raise ValueError(
                f"--neurontest-device {self.spec} cannot size a Ray actor: name the GPUs one "
                "replica spans instead (e.g. cuda:0,cuda:1 gives each actor two GPUs)"
            )
        if self.gpus:
            return len(self.gpus)
        return 1 if self.uses_cuda else 0

    def for_replica(self) -> Placement:
        """The placement inside a Ray actor: Ray hands each actor its own GPUs, renumbered from 0
        (CUDA_VISIBLE_DEVICES), so `cuda:2` becomes `cuda` and `cuda:4,cuda:5` becomes the first
        two visible devices."""
        n_gpus = self.gpus_per_replica()
        if n_gpus == 0:
            return self
        if n_gpus == 1:
            return Placement("cuda", device="cuda")
        indices = tuple(range(n_gpus))
        return Placement(",".join(f"cuda:{i}" for i in indices), gpus=indices)


def parse_placement(spec: str | None) -> Placement:
    """Parse a `--neurontest-device` value; ValueError naming the accepted forms otherwise."""
    text = (spec or "cpu").strip().lower()
    if _SINGLE.match(text):
        return Placement(text, device=text)
    if text in _SPLIT_MAPS:
        return Placement(text, device_map=text)
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if len(parts) > 1 and all(re.fullmatch(r"cuda:\d+", part) for part in parts):
        gpus = tuple(int(part.split(":")[1]) for part in parts)
        if len(set(gpus)) != len(gpus):
            raise ValueError(f"--neurontest-device {spec!r} names a GPU twice")
        return Placement(text, gpus=gpus)
    raise ValueError(
        f"--neurontest-device {spec!r} is not a device: use cpu, cuda, cuda:N, mps, a list of "
        "GPUs to split the model over (cuda:0,cuda:1) or auto"
    )


def _free_memory(gpus: tuple[int, ...]) -> dict[int, int]:
    return {index: int(torch.cuda.mem_get_info(index)[0]) for index in gpus}
