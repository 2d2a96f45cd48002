"""Concurrent first loads of the embedded model on an empty cache: the GGUF is converted once,
under a lock, and every process loads a whole folder (the issue: one run's conversion removed
the folder another was loading). Converting takes 20-30 s, so this is the one such test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .faults_support import temp_files

LOAD = ("from neurontest.engine.models.loading import load_model; "
        "print('layers', load_model().cfg.n_layers, flush=True)")


@pytest.mark.real_model
def test_concurrent_first_loads_convert_once_and_all_load(tmp_path: Path) -> None:
    cache = tmp_path / "cache"  # empty: not the shared converted model
    env = os.environ | {"NEURONTEST_CACHE_DIR": str(cache)}
    children = [subprocess.Popen([sys.executable, "-c", LOAD], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [child.communicate(timeout=600) for child in children]
    for child, (out, err) in zip(children, results):
        assert child.returncode == 0, err
        assert out.strip() == "layers 30"
    conversions = sum(err.count("preparing the embedded model") for _, err in results)
    assert conversions == 1, [err for _, err in results]
    models = cache / "models"
    assert [p.name for p in models.iterdir() if p.is_dir()] == ["smollm2-135m-v1"]
    assert temp_files(models) == [] and not list(models.glob(".*.tmp"))
    complete = (models / "smollm2-135m-v1" / ".complete").read_text().splitlines()
    assert complete[0].endswith(".gguf") and any(line.endswith("\tmodel.safetensors") for line in complete)
