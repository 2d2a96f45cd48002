"""Baselines end to end (child pytest runs on the planted model): record, compare, drift,
missing and unused entries, tolerances, and writes that never leave half a file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .planted_yaml import MONTHS, PLANTED_CORPUS



def hypothesis(model: str = "planted", *, tolerance: str = "", extra_claim: bool = True) -> str:
    body = f"""\
model: {model}
{PLANTED_CORPUS}neurons:
  - id: L0N3
    fires_on: {{tokens: {MONTHS}}}
    threshold: 1.0
    claims:
      - kind: activation
        recall: ">= 0.99"
{tolerance}"""
    if extra_claim:
        body += """\
      - kind: examples
        fires: ["we met in [[March]]"]
        silent: ["the cat sat on the mat"]
"""
    return body


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none", *args)


def baseline(pytester: pytest.Pytester, label: str = "planted") -> Path:
    return pytester.path / "baselines" / f"test_months.{label}.json"


def test_update_writes_a_readable_baseline_and_rerun_passes(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_months=hypothesis())
    result = run(pytester, "--neurontest-update-baselines")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*baseline written: baselines/test_months.planted.json (2 claims)*"])
    text = baseline(pytester).read_text()
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"  # sorted, diff-friendly
    assert data["hypothesis_file"] == "test_months.yaml"
    assert data["model"]["name"] == "planted" and len(data["model"]["fingerprint"]) == 16
    assert data["corpus"]["name"] == "planted" and data["corpus"]["fingerprint"]
    entry = data["claims"]["L0N3::activation"]
    assert entry["metrics"]["recall"] == 1.0 and entry["metrics"]["f1"] == 1.0
    lo, hi = entry["intervals"]["precision"]  # Wilson interval, recorded beside the value
    assert lo < 1.0 == hi
    assert entry["tolerance"]["f1"] == {"abs": 0.02, "rel": 0.0}
    assert data["claims"]["L0N3::examples"]["metrics"] == {"share": 1.0}
    assert {e["outcome"] for e in data["claims"].values()} == {"passed"}  # the verdict it was recorded with

    result = run(pytester)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*baselines: 2 checked, 0 drifted, 0 missing, 0 unused*"])
    # A second update with nothing changed leaves the file alone.
    mtime = baseline(pytester).stat().st_mtime_ns
    run(pytester, "--neurontest-update-baselines").stdout.fnmatch_lines(["*already up to date*"])
    assert baseline(pytester).stat().st_mtime_ns == mtime


def test_perturbed_checkpoint_fails_naming_the_drifting_metric(pytester: pytest.Pytester) -> None:
    from neurontest.engine.models.planted import WORDS, planted_hf_model, save_planted_folder

    folder = pytester.path / "ckpt"
    save_planted_folder(folder)
    pytester.makefile(".yaml", test_months=hypothesis(str(folder)))
    run(pytester, "--neurontest-update-baselines").assert_outcomes(passed=2)
    assert baseline(pytester, "ckpt").exists()

    # A "new checkpoint" in the same folder: the month neuron now also fires on "2020". Its
    # recall claim (every month fires) still holds, but precision, f1 and friends moved.
    hf = planted_hf_model()
    hf.model.layers[0].mlp.gate_proj.weight.data[3, WORDS.index("2020")] = 4.0 / 80 ** 0.5
    save_planted_folder(folder, hf)
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "L0N3::activation on ckpt drifted from its baseline baselines/test_months.ckpt.json" in output
    result.stdout.fnmatch_lines(["*precision drifted: baseline 1 -> now 0.97* (tolerance 0.02*",
                                 "*model fingerprint changed since the baseline*",
                                 "*--neurontest-update-baselines*"])
    assert "recall drifted" not in output

    # A claim-level tolerance wide enough for the move lets it pass again.
    pytester.makefile(".yaml", test_months=hypothesis(
        str(folder), tolerance="        tolerance: 0.9\n"))
    run(pytester).assert_outcomes(passed=2)


def test_hand_edited_baseline_drift_and_per_metric_tolerance(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_months=hypothesis())
    run(pytester, "--neurontest-update-baselines")
    data = json.loads(baseline(pytester).read_text())
    data["claims"]["L0N3::activation"]["metrics"]["f1"] = 0.82
    baseline(pytester).write_text(json.dumps(data))
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    # The recorded interval is shown beside the tolerance, not added to it.
    result.stdout.fnmatch_lines(["*f1 drifted: baseline 0.82 -> now 1 (tolerance 0.02; baseline CI 0.9737 to 1)*",
                                 "*(CIs shown for context, not added to the tolerance*"])

    pytester.makefile(".yaml", test_months=hypothesis(tolerance="        tolerance: {f1: 0.2}\n"))
    run(pytester).assert_outcomes(passed=2)


def test_update_records_a_failing_claim_only_with_update_baselines_all(pytester: pytest.Pytester) -> None:
    # The examples claim now names a token the month neuron ignores: it fails on its own bound.
    broken = hypothesis().replace('fires: ["we met in [[March]]"]', 'fires: ["the [[cat]] sat"]')
    pytester.makefile(".yaml", test_months=broken)
    result = run(pytester, "--neurontest-update-baselines")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*baselines: not recorded for 1 failing/inconclusive claims (old entries kept); "
        "--neurontest-update-baselines-all records them too*",
        "*not recorded in baselines/test_months.planted.json: L0N3::examples (failed)*"])
    claims = json.loads(baseline(pytester).read_text())["claims"]
    assert {cid: e["outcome"] for cid, e in claims.items()} == {"L0N3::activation": "passed"}

    result = run(pytester, "--neurontest-update-baselines-all")
    result.assert_outcomes(passed=1, failed=1)
    assert "not recorded" not in result.stdout.str()
    claims = json.loads(baseline(pytester).read_text())["claims"]
    assert {cid: e["outcome"] for cid, e in claims.items()} == {
        "L0N3::activation": "passed", "L0N3::examples": "failed"}


def test_missing_and_unused_entries_are_reported(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_months=hypothesis(extra_claim=False))
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*baselines: none recorded for 1 claims*"])
    run(pytester, "--neurontest-require-baselines").assert_outcomes(failed=1)

    run(pytester, "--neurontest-update-baselines")
    pytester.makefile(".yaml", test_months=hypothesis())  # a new claim: no entry yet
    result = run(pytester)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*baselines: 1 checked, 0 drifted, 1 missing, 0 unused*",
                                 "*missing in baselines/test_months.planted.json: L0N3::examples*"])
    result = run(pytester, "--neurontest-require-baselines")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*L0N3::examples: no baseline in*"])

    run(pytester, "--neurontest-update-baselines")
    result = run(pytester, "-k", "activation")  # a deselected claim's entry is not "unused"
    result.assert_outcomes(passed=1)
    assert "unused in" not in result.stdout.str()
    pytester.makefile(".yaml", test_months=hypothesis(extra_claim=False))  # the claim is gone
    result = run(pytester)
    result.stdout.fnmatch_lines(["*unused in baselines/test_months.planted.json: L0N3::examples*"])
    run(pytester, "--neurontest-update-baselines")
    assert set(json.loads(baseline(pytester).read_text())["claims"]) == {"L0N3::activation"}


def test_failed_write_leaves_the_previous_baseline_intact(pytester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makefile(".yaml", test_months=hypothesis())
    run(pytester, "--neurontest-update-baselines")
    before = baseline(pytester).read_text()
    pytester.makefile(".yaml", test_months=hypothesis(extra_claim=False))  # would change the file

    def crash(src: str, dst: str) -> None:  # dies between the temp write and the rename
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    result = run(pytester, "--neurontest-update-baselines")
    monkeypatch.undo()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*could not write baseline baselines/test_months.planted.json*"])
    assert baseline(pytester).read_text() == before
    assert sorted(p.name for p in baseline(pytester).parent.iterdir()) == ["test_months.planted.json"]


def test_interrupted_run_writes_no_baseline(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_months=hypothesis())
    run(pytester, "--neurontest-update-baselines")
    before = baseline(pytester).read_text()
    data = json.loads(before)
    data["claims"]["L0N3::activation"]["metrics"]["f1"] = 0.5  # an update would restore 1.0
    baseline(pytester).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    edited = baseline(pytester).read_text()
    # Runs after the YAML claims (files are collected in name order), like a Ctrl-C mid-run.
    pytester.makepyfile(test_zz_interrupt="def test_ctrl_c():\n    raise KeyboardInterrupt\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none",
                                "--neurontest-update-baselines", no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert baseline(pytester).read_text() == edited
