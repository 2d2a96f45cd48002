"""`neurontest bench` bookkeeping: figures, judging, the table and cache dirs (no model runs)."""

from __future__ import annotations

from dataclasses import asdict
from types import SimpleNamespace

import pytest

from neurontest.bench import cases as bench_cases
from neurontest.bench import run as bench_run
from neurontest.bench import suite as bench_suite
from neurontest.bench import timing


def test_figure_is_the_median_of_its_runs():
    f = timing.figure("noise", "x", [3.0, 1.0, 2.0, 10.0, 0.5])
    assert f.seconds == 2.0 and f.runs == [3.0, 1.0, 2.0, 10.0, 0.5]


def _speedups(r20: float, r64: float) -> list[timing.Figure]:
    out = []
    for n, ratio in ((20, r20), (64, r64)):
        out += [timing.figure("noise", f"seed loop, {n} tokens", [1.0]),
                timing.figure("noise", f"neurontest, {n} tokens", [1.0], ratio=ratio, target="t")]
    return out


@pytest.mark.parametrize("r20, r64, met", [(6, 7, [True, True]), (6, 5.5, [True, False]),
                                          (4, 9, [False, True]), (4, 3, [False, False])])
def test_judge_wants_5x_at_20_tokens_and_more_at_64(r20, r64, met):
    judged = [f for f in bench_cases._judge(_speedups(r20, r64)) if f.target]
    assert [f.met for f in judged] == met


def test_table_marks_misses():
    rows = [asdict(timing.figure("suite", "warm", [2.0], 100.0, ratio=0.3, target="<= 0.15x", met=False,
                                note="x cold"))]
    table = bench_run.format_table(rows)
    assert "| suite | warm | 2 s | 2 | 100 | 0.3 (x cold) | <= 0.15x | **no** |" in table


def test_fresh_cache_dirs(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    (shared / "models").mkdir(parents=True)
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(shared))
    reused = bench_suite.fresh_cache_dir(tmp_path)
    empty = bench_suite.fresh_cache_dir(tmp_path, reuse_models=False)
    assert (reused / "models").resolve() == (shared / "models").resolve()
    assert not any(empty.iterdir())


def test_bad_arguments_exit_2(capsys):
    said: list[str] = []
    args = SimpleNamespace(skip="mining,nonsense", repeats=1, seed_repeats=1, tokens=10, core_tokens=10)
    assert bench_run.main(args, said.append) == 2
    assert "nonsense" in said[0]


def test_the_suite_floor_comes_from_the_runs_phase_line() -> None:
    from neurontest.bench.suite import floor_seconds, phase_seconds

    output = ("claims: 3 passed\n"
              "time: conversion 19 s · model load 4.0 s · corpus 12 s · SAE fits 40 s · mining 1,166 s "
              "(1 pass, 600 tokens/s) · claims 20 s (activation 5.0 s, attends 1.0 s) · other 30 s "
              "(imports, collection, reports) (wall 1,291 s)\n")
    assert phase_seconds(output) == {"conversion": 19.0, "model load": 4.0, "corpus": 12.0,
                                     "SAE fits": 40.0, "mining": 1166.0, "claims": 20.0,
                                     "other": 30.0}
    assert floor_seconds(output) == (1241.0, 1)
    assert floor_seconds("5 passed in 3.2s") is None
