"""Run-wide settings of claims: one frozen object, built once and passed down.

The pytest plugin builds it from its options and ini keys (`RunSettings.from_options`); a
notebook uses the defaults or its own:

    runner = ClaimRunner(lab, settings=RunSettings(min_positions=50, error_control="holm"))

What each field changes:

* `min_positions`: the fewest positions on a bounded metric's own side (firing positions for
  precision, claimed ones for recall, ...) before a verdict is decided on the point estimate;
  with fewer, only an interval lying wholly on one side of the bound decides.
* `error_control` / `alpha`: how the one-sided p-values of a run's claims are adjusted for
  multiplicity (`none`, `holm`, `bh`); a claim passes only with its adjusted p below `alpha`.
* `hypothesis_profile` / `max_examples` / `rootdir`: the perturbation claims' Hypothesis
  settings (`ci` derandomizes and keeps no example database).
* `progress`: where long work reports progress (neurontest.engine.progress); None: silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurontest.engine.progress import ProgressCallback

DEFAULT_MIN_POSITIONS = 20
DEFAULT_MAX_EXAMPLES = 50
DEFAULT_ALPHA = 0.05
PROFILES = ("default", "ci")
ERROR_CONTROLS = ("none", "holm", "bh")


@dataclass(frozen=True)
class RunSettings:
    """Everything besides the model, corpus and claim text that a verdict depends on."""

    min_positions: int = DEFAULT_MIN_POSITIONS
    error_control: str = "none"
    alpha: float = DEFAULT_ALPHA
    hypothesis_profile: str = "default"
    max_examples: int = DEFAULT_MAX_EXAMPLES
    rootdir: Path | None = None
    progress: ProgressCallback | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.min_positions < 0:
            raise ValueError(f"--neurontest-min-positions must be 0 or more, got {self.min_positions}")
        if self.error_control not in ERROR_CONTROLS:
            raise ValueError(f"--neurontest-error-control {self.error_control!r} is unknown; use one "
                             f"of {', '.join(ERROR_CONTROLS)}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"--neurontest-alpha must lie strictly between 0 and 1, got {self.alpha}")
        if self.hypothesis_profile not in PROFILES:
            raise ValueError(f"unknown neurontest hypothesis profile {self.hypothesis_profile!r}; "
                             f"use one of {list(PROFILES)}")
        if self.max_examples < 1:
            raise ValueError(f"--neurontest-max-examples must be at least 1, got {self.max_examples}")

    @classmethod
    def from_options(cls, *, min_positions: int | None = None, error_control: str | None = None,
                     alpha: float | None = None, hypothesis_profile: str | None = None,
                     max_examples: int | None = None, rootdir: Path | str | None = None,
                     progress: ProgressCallback | None = None) -> RunSettings:
        """Settings from optional values (None: the default); ValueError naming a bad one."""
        return cls(
            min_positions=DEFAULT_MIN_POSITIONS if min_positions is None else int(min_positions),
            error_control=(error_control or "none").strip().lower(),
            alpha=DEFAULT_ALPHA if alpha is None else float(alpha),
            hypothesis_profile=hypothesis_profile or "default",
            max_examples=DEFAULT_MAX_EXAMPLES if max_examples is None else int(max_examples),
            rootdir=None if rootdir is None else Path(rootdir),
            progress=progress,
        )

    @property
    def derandomize(self) -> bool:
        """The `ci` profile: every perturbation claim's seed derives from the claim itself."""
        return self.hypothesis_profile == "ci"

    @property
    def database_dir(self) -> Path | None:
        """Where failing perturbed examples are kept and replayed; None under `ci`."""
        if self.derandomize:
            return None
        return Path(self.rootdir or Path.cwd()) / ".hypothesis" / "neurontest"

    def describe(self) -> dict[str, Any]:
        """The fields a remembered claim result depends on (its cache key takes what it reads)."""
        return {"min_positions": self.min_positions, "hypothesis_profile": self.hypothesis_profile,
                "max_examples": self.max_examples}


DEFAULT_SETTINGS = RunSettings()
