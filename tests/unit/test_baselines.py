"""Baseline building blocks without pytest runs: tolerances, rounding, atomic writes, the matrix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from neurontest.plugin.baselines import (Tolerance, atomic_write_text, baseline_path, default_tolerance,
                                  parse_tolerance, round6)
from neurontest.report.matrix import Cell, claims_matrix, matrix_markdown


def test_default_tolerances_follow_the_metric_scale() -> None:
    assert default_tolerance("f1") == Tolerance(0.02)
    assert default_tolerance("effect") == Tolerance(0.001, 0.05)
    assert Tolerance(0.02).allows(0.82, 0.80) and not Tolerance(0.02).allows(0.82, 0.61)
    assert Tolerance(0.001, 0.05).allows(-2.0, -2.09) and not Tolerance(0.001, 0.05).allows(-2.0, -2.2)
    assert Tolerance(0.02).allows(None, None) and not Tolerance(0.02).allows(None, 0.5)
    assert str(Tolerance(0.001, 0.05)) == "5% + 0.001"


def test_parse_tolerance() -> None:
    assert parse_tolerance(0.05) == {"*": Tolerance(0.05)}
    assert parse_tolerance({"f1": 0.01, "effect": {"rel": 0.1}}) == {
        "f1": Tolerance(0.01), "effect": Tolerance(0.0, 0.1)}
    assert parse_tolerance({"abs": 0.1, "rel": 0.2}) == {"*": Tolerance(0.1, 0.2)}
    for bad in (-1, "0.1", True, {"f1": "x"}, {"f1": -0.1}):
        with pytest.raises(ValueError):
            parse_tolerance(bad)


def test_tolerance_is_a_claim_option() -> None:
    from neurontest.claims.activation import ActivationClaim

    ActivationClaim.validate_options({"kind": "activation", "f1": ">= 0.5", "tolerance": {"f1": 0.01}})
    with pytest.raises(ValueError, match="tolerance"):
        ActivationClaim.validate_options({"kind": "activation", "f1": ">= 0.5", "tolerance": "big"})


def test_round6_and_paths() -> None:
    assert round6(0.123456789) == 0.123457 and round6(float("nan")) is None
    assert baseline_path("hyp/test_months.yaml", "smollm2-135m") == Path(
        "hyp/baselines/test_months.smollm2-135m.json")


def test_atomic_write_keeps_the_old_file_when_the_rename_fails(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "b.json"
    atomic_write_text(target, "old\n")

    def crash(*_: object) -> None:
        raise OSError("killed")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]  # no temp file left behind


def test_claims_matrix_from_plain_records() -> None:
    records = [
        {"nodeid": "h/test_a.yaml::L1N2::activation[base]", "outcome": "passed", "model": "base",
         "headline": ("f1", 0.91)},
        {"nodeid": "h/test_a.yaml::L1N2::activation[int8]", "outcome": "failed", "model": "int8",
         "headline": ("f1", 0.52)},
        {"nodeid": "h/test_a.yaml::L1N2::examples", "claim_id": "L1N2::examples", "outcome": "passed",
         "lab": {"model": {"name": "base"}}},
    ]
    rows, columns, cells = claims_matrix(records)
    assert rows == ["h/test_a.yaml::L1N2::activation", "h/test_a.yaml::L1N2::examples"]
    assert columns == ["base", "int8"]
    assert cells[(rows[0], "int8")] == Cell("failed", "f1", 0.52)
    assert cells[(rows[1], "base")] == Cell("passed")
    table = matrix_markdown(claims_matrix(records), strip_prefix="h/")
    assert "| `test_a.yaml::L1N2::activation` | passed (f1 0.91) | failed (f1 0.52) |" in table
    assert "| `test_a.yaml::L1N2::examples` | passed |  |" in table


def test_headline_is_the_failing_bound_else_the_first_bounded_metric() -> None:
    from neurontest.claims.base import Bound, ClaimResult, Measurement
    from neurontest.report.matrix import headline
    from neurontest.engine.neuron import NeuronRef

    def result(recall: float) -> ClaimResult:
        return ClaimResult("activation", NeuronRef(0, 1), [
            Measurement("precision", 0.99, Bound.parse(">= 0.9")),
            Measurement("recall", recall, Bound.parse(">= 0.9")), Measurement("f1", 0.6)], "")

    assert headline(result(0.5)) == ("recall", 0.5)
    assert headline(result(0.95)) == ("precision", 0.99)


def _store_item(tmp_path: Path, config: dict | None = None):
    from types import SimpleNamespace

    claim = SimpleNamespace(config=config or {})
    return SimpleNamespace(path=tmp_path / "test_x.yaml", model_label="m", claim_id="L0N1::activation",
                           claim=claim, nodeid="test_x.yaml::L0N1::activation")


def _result(value: float, interval: tuple[float, float] | None):
    from neurontest.claims.base import ClaimResult, Measurement
    from neurontest.engine.neuron import NeuronRef

    return ClaimResult("activation", NeuronRef(0, 1),
                       [Measurement("precision", value, interval=interval)], "")


def test_baselines_record_intervals_and_a_wide_one_sets_the_allowed_drift(tmp_path: Path) -> None:
    from neurontest.plugin.baselines import BaselineStore

    item = _store_item(tmp_path)
    recorder = BaselineStore(update=True)
    recorder.collected(item)
    recorder.check(item, _result(0.94, (0.72, 0.99)), {})
    recorder.finish()
    path = baseline_path(item.path, "m")
    import json

    entry = json.loads(path.read_text())["claims"]["L0N1::activation"]
    assert entry["intervals"] == {"precision": [0.72, 0.99]}
    # Half the recorded width (0.135) is wider than the 0.02 tolerance: 0.84 does not drift ...
    assert BaselineStore().check(item, _result(0.84, (0.6, 0.95)), {}) is None
    # ... 0.75 does, and the message names both allowances.
    message = BaselineStore().check(item, _result(0.75, (0.5, 0.9)), {})
    assert message and "precision drifted: baseline 0.94 -> now 0.75 (tolerance 0.02; CI half-width 0.135)" in message


def test_a_narrow_interval_leaves_the_tolerance_in_charge(tmp_path: Path) -> None:
    from neurontest.plugin.baselines import BaselineStore

    item = _store_item(tmp_path)
    recorder = BaselineStore(update=True)
    recorder.collected(item)
    recorder.check(item, _result(0.94, (0.935, 0.945)), {})
    recorder.finish()
    assert BaselineStore().check(item, _result(0.93, None), {}) is None
    assert "drifted" in (BaselineStore().check(item, _result(0.9, None), {}) or "")


def test_baseline_without_intervals_uses_todays(tmp_path: Path) -> None:
    import json

    from neurontest.plugin.baselines import BaselineStore

    item = _store_item(tmp_path)
    path = baseline_path(item.path, "m")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"claims": {item.claim_id: {"metrics": {"precision": 0.9}}}}))
    assert BaselineStore().check(item, _result(0.8, (0.6, 0.9)), {}) is None
    assert BaselineStore().check(item, _result(0.8, None), {}) is not None
