"""Where neurontest keeps converted models and activation caches."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "NEURONTEST_CACHE_DIR"


def cache_root() -> Path:
    """`$NEURONTEST_CACHE_DIR`, else `$XDG_CACHE_HOME/neurontest`, else `~/.cache/neurontest`."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "neurontest"
