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
    from neurontest.engine.units.neuron import NeuronRef

    def result(recall: float) -> ClaimResult:
        return ClaimResult("activation", NeuronRef(0, 1), [
            Measurement("precision", 0.99, Bound.parse(">= 0.9")),
            Measurement("recall", recall, Bound.parse(">= 0.9")), Measurement("f1", 0.6)], "")

    assert headline(result(0.5)) == ("recall", 0.5)
    assert headline(result(0.95)) == ("precision", 0.99)


def _store_item(tmp_path: Path, config: dict | None = None, claim_id: str = "L0N1::activation"):
    from types import SimpleNamespace

    claim = SimpleNamespace(config=config or {})
    return SimpleNamespace(path=tmp_path / "test_x.yaml", model_label="m", claim_id=claim_id,
                           claim=claim, nodeid=f"test_x.yaml::{claim_id}")


def _result(value: float, interval: tuple[float, float] | None, metric: str = "precision"):
    from neurontest.claims.base import ClaimResult, Measurement
    from neurontest.engine.units.neuron import NeuronRef

    return ClaimResult("activation", NeuronRef(0, 1),
                       [Measurement(metric, value, interval=interval)], "")


def _entries(item) -> dict:
    import json

    return json.loads(baseline_path(item.path, "m").read_text())["claims"]


def _record(items_and_results, update: str = "passing"):
    """One update-mode session over (item, result, verdict) triples; the store, finished."""
    from neurontest.plugin.baselines import BaselineStore

    store = BaselineStore(update=update)
    for item, _, _ in items_and_results:
        store.collected(item)
    for item, result, verdict in items_and_results:
        assert store.check(item, result, {}, verdict=verdict) is None
    assert not store.finish()
    return store


def test_baselines_record_intervals_and_show_them_without_widening_the_tolerance(tmp_path: Path) -> None:
    from neurontest.plugin.baselines import BaselineStore

    item = _store_item(tmp_path)
    _record([(item, _result(0.94, (0.72, 0.99)), "passed")])
    assert _entries(item)["L0N1::activation"]["intervals"] == {"precision": [0.72, 0.99]}
    # The rerun is paired with the baseline (same seeded corpus): only the tolerance allows drift,
    # though half the recorded width (0.135) is far wider.
    assert BaselineStore().check(item, _result(0.93, (0.7, 0.98)), {}) is None
    message = BaselineStore().check(item, _result(0.84, (0.6, 0.95)), {})
    assert message and ("precision drifted: baseline 0.94 -> now 0.84 (tolerance 0.02; baseline CI "
                        "0.72 to 0.99)") in message
    assert "(CIs shown for context, not added to the tolerance: the rerun is paired with the baseline)" in message


def test_a_paired_regression_inside_the_old_ci_half_width_is_flagged(tmp_path: Path) -> None:
    """Issue 21: L2N273 recall 15/31 -> 10/31 (a drop of 0.161) passed under the half-width
    allowance of its recorded interval (about 0.17); the tolerance is 0.02."""
    from neurontest.plugin.baselines import BaselineStore

    item = _store_item(tmp_path)
    _record([(item, _result(15 / 31, (0.31, 0.66), "recall"), "passed")])
    message = BaselineStore().check(item, _result(10 / 31, (0.17, 0.51), "recall"), {})
    assert message and "recall drifted: baseline 0.4839 -> now 0.3226 (tolerance 0.02;" in message
    assert "baseline CI 0.31 to 0.66" in message


def test_a_thinner_rerun_does_not_widen_its_own_allowance(tmp_path: Path) -> None:
    import json

    from neurontest.plugin.baselines import BaselineStore

    item = _store_item(tmp_path)
    path = baseline_path(item.path, "m")
    path.parent.mkdir(parents=True)
    # An entry without intervals, then a rerun on few positions with a very wide interval.
    path.write_text(json.dumps({"claims": {item.claim_id: {"metrics": {"precision": 0.9}}}}))
    message = BaselineStore().check(item, _result(0.8, (0.3, 0.99)), {})
    assert message and "precision drifted: baseline 0.9 -> now 0.8 (tolerance 0.02)" in message
    assert "CIs shown" not in message  # no recorded interval, none shown
    assert BaselineStore().check(item, _result(0.89, (0.3, 0.99)), {}) is None


def test_a_narrow_interval_leaves_the_tolerance_in_charge(tmp_path: Path) -> None:
    from neurontest.plugin.baselines import BaselineStore

    item = _store_item(tmp_path)
    _record([(item, _result(0.94, (0.935, 0.945)), "passed")])
    assert BaselineStore().check(item, _result(0.93, None), {}) is None
    assert "drifted" in (BaselineStore().check(item, _result(0.9, None), {}) or "")


def test_update_records_only_passing_claims_and_keeps_the_old_entries(tmp_path: Path) -> None:
    good, broken = _store_item(tmp_path), _store_item(tmp_path, claim_id="L0N2::activation")
    thin = _store_item(tmp_path, claim_id="L0N3::activation")
    _record([(good, _result(0.9, None), "passed"), (broken, _result(0.8, None), "passed")])
    assert {cid: e["outcome"] for cid, e in _entries(good).items()} == {
        "L0N1::activation": "passed", "L0N2::activation": "passed"}

    store = _record([(good, _result(0.91, None), "passed"), (broken, _result(0.5, None), "failed"),
                     (thin, _result(0.1, None), "inconclusive")])
    entries = _entries(good)
    assert entries["L0N1::activation"]["metrics"] == {"precision": 0.91}
    assert entries["L0N2::activation"] == {  # the failing claim's old entry, untouched
        "kind": "activation", "neuron": "L0N1", "metrics": {"precision": 0.8},
        "tolerance": {"precision": {"abs": 0.02, "rel": 0.0}}, "outcome": "passed"}
    assert "L0N3::activation" not in entries
    lines = store.summary_lines()
    assert ("baselines: not recorded for 2 failing/inconclusive claims (old entries kept); "
            "--neurontest-update-baselines-all records them too") in lines
    assert any("not recorded in" in line and "L0N2::activation (failed)" in line
               and "L0N3::activation (inconclusive)" in line for line in lines)

    # "all" records them too, each with its outcome.
    store = _record([(good, _result(0.91, None), "passed"), (broken, _result(0.5, None), "failed"),
                     (thin, _result(0.1, None), "inconclusive")], update="all")
    entries = _entries(good)
    assert entries["L0N2::activation"]["metrics"] == {"precision": 0.5}
    assert {cid: e["outcome"] for cid, e in entries.items()} == {
        "L0N1::activation": "passed", "L0N2::activation": "failed", "L0N3::activation": "inconclusive"}
    assert not any("not recorded" in line for line in store.summary_lines())


def test_an_expected_xfail_is_recorded_and_an_xpass_is_not(tmp_path: Path) -> None:
    expected, surprise = _store_item(tmp_path), _store_item(tmp_path, claim_id="L0N2::activation")
    store = _record([(expected, _result(0.3, None), "xfailed"), (surprise, _result(0.9, None), "xpassed")])
    assert {cid: e["outcome"] for cid, e in _entries(expected).items()} == {"L0N1::activation": "xfailed"}
    assert any("L0N2::activation (xpassed)" in line for line in store.summary_lines())


def test_update_mode_is_a_string_and_the_old_boolean_still_reads(tmp_path: Path) -> None:
    from neurontest.plugin.baselines import BaselineStore

    assert BaselineStore().update == "" and not BaselineStore().update
    assert BaselineStore(update=True).update == "passing" and BaselineStore(update="all").update
    with pytest.raises(ValueError):
        BaselineStore(update="everything")
    with pytest.raises(ValueError):
        BaselineStore().check(_store_item(tmp_path), _result(0.9, None), {}, verdict="error")


def test_a_drift_names_the_recorded_outcome_when_the_verdict_changed(tmp_path: Path) -> None:
    from neurontest.plugin.baselines import BaselineStore

    item = _store_item(tmp_path)
    _record([(item, _result(0.9, None), "passed")])
    message = BaselineStore().check(item, _result(0.5, None), {}, verdict="failed")
    assert message and "(baseline recorded as passed; now failed)" in message
    assert "recorded as" not in (BaselineStore().check(item, _result(0.5, None), {}) or "")


def test_xdist_events_carry_the_outcome_so_the_controller_writes_what_a_serial_run_does(
        tmp_path: Path) -> None:
    import json

    from neurontest.plugin.baselines import BaselineStore

    good, broken = _store_item(tmp_path), _store_item(tmp_path, claim_id="L0N2::activation")
    flaky = _store_item(tmp_path, claim_id="L0N3::activation")
    runs = [(good, _result(0.9, (0.8, 0.95)), "passed"), (broken, _result(0.4, None), "failed"),
            (flaky, _result(0.3, None), "xfailed")]
    path = baseline_path(good.path, "m")
    for update in ("passing", "all"):
        serial = _record(runs, update=update)
        serial_file, serial_summary = path.read_text(), serial.summary_lines()
        path.unlink()

        worker = BaselineStore(update=update, worker=True)
        for item, _, _ in runs:
            worker.collected(item)
        for item, result, verdict in runs:
            worker.check(item, result, {}, verdict=verdict)
        assert not worker.finish() and not path.exists()  # a worker writes nothing
        controller = BaselineStore(update=update)
        for nodeid, event in json.loads(json.dumps(worker.events)).items():  # as shipped
            assert event["outcome"] in ("passed", "failed", "xfailed")
            controller.absorb(nodeid, event)
        assert not controller.finish()
        assert path.read_text() == serial_file
        assert controller.summary_lines() == serial_summary
        outcomes = {cid: e["outcome"] for cid, e in json.loads(serial_file)["claims"].items()}
        assert outcomes == ({"L0N1::activation": "passed", "L0N3::activation": "xfailed"} if update == "passing"
                            else {"L0N1::activation": "passed", "L0N2::activation": "failed",
                                  "L0N3::activation": "xfailed"})
        path.unlink()
