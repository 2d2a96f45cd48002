"""Caches under faults, on the planted model in child pytest runs: concurrent first runs on an
empty cache, corrupt entries of every kind, and a read-only cache folder."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from .faults_support import (CLAIMS, FAULTS_CONFTEST, N_CLAIMS, finish, outcomes, start_pytest,
                             temp_files)

pytest.importorskip("xdist")

RUN = ("--neurontest-report", "none")


@pytest.fixture
def suite(pytester: pytest.Pytester) -> Path:
    pytester.makefile(".yaml", test_months=CLAIMS)
    pytester.makeconftest(FAULTS_CONFTEST)
    return pytester.path


def _all_pass(folder: Path, name: str) -> dict[str, str]:
    found = outcomes(folder / f"{name}.xml")
    assert len(found) == N_CLAIMS and set(found.values()) == {"passed"}, found
    return found


def test_concurrent_first_runs_on_an_empty_cache_all_run_every_claim(suite: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {"NEURONTEST_CACHE_DIR": str(cache)}
    children = [start_pytest(suite, "one", *RUN, **env), start_pytest(suite, "two", *RUN, **env),
                start_pytest(suite, "xdist", "-n", "2", *RUN, **env)]
    results = [finish(child) for child in children]
    for (code, output), name in zip(results, ("one", "two", "xdist")):
        assert code == 0, output
        _all_pass(suite, name)
    assert temp_files(cache) == []
    assert list((cache / "activations").rglob("*.pt")) and list((cache / "results").glob("claim-*"))


def _corrupt(cache: Path) -> dict[str, Path]:
    """Damage one entry of every kind, each in the way that kind can go wrong; name -> path."""
    import torch

    damaged = {}
    (activation, *more) = sorted((cache / "activations").rglob("*.pt"))
    activation.write_bytes(activation.read_bytes()[:100])  # truncated by a crash
    damaged["activation (truncated)"] = activation
    for path in more:  # values changed, checksum kept
        entry = torch.load(path, weights_only=True)
        entry["values"] = entry["values"] * 2
        torch.save(entry, path)
        damaged["activation (checksum)"] = path
    (sample,) = (cache / "prep").glob("sample-*.pt")
    entry = torch.load(sample, weights_only=True)
    entry["tokens"] = entry["tokens"][:, :-1]  # shapes no longer agree
    torch.save(entry, sample)
    damaged["sample"] = sample
    (vocab,) = (cache / "prep").glob("vocab-*.json")
    entry = json.loads(vocab.read_text())
    entry["strings"][5] = "tampered"
    vocab.write_text(json.dumps(entry))
    damaged["vocabulary"] = vocab
    for path in sorted((cache / "results").glob("claim-*.json")):  # the crash
        entry = json.loads(path.read_text())
        entry["value"]["measurements"][0]["value"] = "0.9"
        path.write_text(json.dumps(entry))
        damaged["claim result"] = path
    (identity,) = (cache / "results").glob("lab-*.json")
    entry = json.loads(identity.read_text())
    entry["value"]["model"]["n_layers"] = "two"
    identity.write_text(json.dumps(entry))
    damaged["lab identity"] = identity
    (checked,) = (cache / "results").glob("checked-*")
    checked.write_text("{not json")
    damaged["checked mark"] = checked
    return damaged


def test_corrupt_cache_entries_of_every_kind_are_dropped_and_recomputed(suite: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {"NEURONTEST_CACHE_DIR": str(cache)}
    code, output = finish(start_pytest(suite, "cold", *RUN, **env))
    assert code == 0, output
    cold = _all_pass(suite, "cold")
    damaged = _corrupt(cache)

    code, output = finish(start_pytest(suite, "damaged", *RUN, **env))
    assert code == 0, output
    assert _all_pass(suite, "damaged") == cold
    flat = re.sub(r"\s+", "", output)  # the warnings summary wraps long paths
    for kind, path in damaged.items():
        assert f"droppedthecorruptcacheentry{path}" in flat, (kind, output)
    # Recomputed entries were written back whole: a third run trusts them all.
    code, output = finish(start_pytest(suite, "healed", *RUN, **env))
    assert code == 0 and "corrupt" not in output, output
    assert f"{N_CLAIMS} claim result(s) remembered" in output


def test_a_read_only_cache_runs_every_claim_with_one_warning_and_mines_once(
        suite: Path, tmp_path: Path) -> None:
    writable, read_only = tmp_path / "writable", tmp_path / "read-only"
    read_only.mkdir()
    logs = {name: tmp_path / f"{name}.log" for name in ("writable", "read-only")}
    code, output = finish(start_pytest(suite, "writable", *RUN, NEURONTEST_CACHE_DIR=str(writable),
                                       FAULTS_MINING_LOG=str(logs["writable"])))
    assert code == 0, output

    env = {"NEURONTEST_CACHE_DIR": str(read_only), "FAULTS_MINING_LOG": str(logs["read-only"])}
    if os.geteuid() == 0:  # root writes through permissions: emulate the read-only file system
        env["FAULTS_READ_ONLY"] = str(read_only)
    else:
        read_only.chmod(0o555)
    try:
        code, output = finish(start_pytest(suite, "read-only", *RUN, **env))
    finally:
        read_only.chmod(0o755)
    assert code == 0, output
    _all_pass(suite, "read-only")
    assert "Traceback" not in output and "OSError" not in output
    assert output.count("cannot write to the cache") == 1, output
    assert "running without caching" in output
    # Mining ran as often as on a writable cache (once), not again for every claim.
    passes = logs["read-only"].read_text().splitlines()
    assert len(passes) == len(logs["writable"].read_text().splitlines()) == 1
    assert list(read_only.iterdir()) == []
