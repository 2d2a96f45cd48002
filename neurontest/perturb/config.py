"""Hypothesis settings of the perturbation claims: profile, example budget, example database.

The pytest plugin pushes one `PerturbConfig` per run in `pytest_configure` (from
`--neurontest-hypothesis-profile` and `--neurontest-max-examples`, database under the rootdir)
and pops it in `pytest_unconfigure`; from Python, call `push_config(...)` yourself. Profiles:

* `default`: examples are random unless a claim sets `seed:` (the seed used is reported);
  failures are saved in `<rootdir>/.hypothesis/neurontest` and replayed first next time;
* `ci`: `derandomize=True`: every claim without `seed:` gets a seed derived from the claim
  itself, and no database is read or written, so two runs give identical verdicts.

Kept free of Hypothesis imports: the plugin imports it at startup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROFILES = ("default", "ci")
DEFAULT_MAX_EXAMPLES = 50


@dataclass(frozen=True)
class PerturbConfig:
    """Settings read by `invariant`, `necessary` and `sufficient` claims when they run."""

    profile: str = "default"
    max_examples: int = DEFAULT_MAX_EXAMPLES  # a claim's `examples:` overrides it
    rootdir: Path | None = None  # None: the current directory

    @property
    def derandomize(self) -> bool:
        return self.profile == "ci"

    @property
    def database_dir(self) -> Path | None:
        """Where failing examples are kept; None under the `ci` profile."""
        if self.derandomize:
            return None
        return Path(self.rootdir or Path.cwd()) / ".hypothesis" / "neurontest"


_STACK: list[PerturbConfig] = [PerturbConfig()]


def current_config() -> PerturbConfig:
    return _STACK[-1]


def push_config(profile: str | None = None, max_examples: int | None = None,
                rootdir: Path | str | None = None) -> PerturbConfig:
    """Make a new config current (None keeps the default); ValueError for a bad value."""
    profile = profile or "default"
    if profile not in PROFILES:
        raise ValueError(f"unknown neurontest hypothesis profile {profile!r}; use one of {list(PROFILES)}")
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"--neurontest-max-examples must be at least 1, got {max_examples}")
    config = PerturbConfig(profile, max_examples or DEFAULT_MAX_EXAMPLES,
                           None if rootdir is None else Path(rootdir))
    _STACK.append(config)
    return config


def pop_config() -> PerturbConfig:
    """Drop the config pushed last (the built-in default always stays)."""
    if len(_STACK) > 1:
        _STACK.pop()
    return _STACK[-1]
