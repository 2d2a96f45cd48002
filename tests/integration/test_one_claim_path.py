"""One way a claim runs (issue 22): the YAML item, the `unit` fixture and the matched-unit path
all go through `ClaimRunner.run` and give the same result for the same claim on the same data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .planted_yaml import MONTHS

# The fixture's lab samples the corpus with the defaults (window 64, 100,000 tokens): the YAML
# names the same, so all three paths read the same windows.
YAML = f"""\
corpus: planted
neurons:
  - id: L0N3
    fires_on: {{tokens: {MONTHS}}}
    threshold: 1.0
    claims:
      - kind: activation
        f1: ">= 0.99"
"""
PYTHON = f"""\
MONTHS = {MONTHS.strip("[]").split(", ")!r}


def test_month_neuron(unit):
    result = unit("L0N3", fires_on=MONTHS, threshold=1.0).assert_fires_on(f1=">= 0.99")
    assert type(result).__name__ == "ClaimResult"


def test_a_head_by_its_id(unit):
    unit("L1H1").assert_claim("attends", to="previous", mass=">= 0.9")


def test_neuron_is_the_same_fixture(neuron, unit):
    assert neuron is unit
"""
# Every claim result a run produces, as plain data (the report's own serialisation).
CONFTEST = """\
import json

from neurontest.claims.base import result_to_dict


def pytest_runtest_teardown(item):
    results = []
    if getattr(item, "result", None) is not None:
        results.append(item.result)
    card = item.config.stash[__import__("neurontest.plugin.session", fromlist=["x"]).session_key].records.get(item.nodeid)
    if card is not None and card.result is not None and card.result not in results:
        results.append(card.result)
    with open("results.jsonl", "a") as out:
        for result in results:
            out.write(json.dumps([item.nodeid, result_to_dict(result)]) + "\\n")
"""


def _measurements(pytester: pytest.Pytester) -> dict[str, list]:
    found = {}
    for line in (pytester.path / "results.jsonl").read_text().splitlines():
        nodeid, result = json.loads(line)
        found[nodeid] = [[m["name"], m["value"], m["interval"], m["p_value"], m["bound"]]
                         for m in result["measurements"]]
    (pytester.path / "results.jsonl").unlink()
    return found


def test_yaml_fixture_and_matched_unit_give_the_same_result(pytester: pytest.Pytester,
                                                           tmp_path: Path) -> None:
    from neurontest.engine.models.planted import save_planted_folder

    copy = save_planted_folder(tmp_path / "copy")
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".yaml", test_months=f"models: [planted, {copy}]\n" + YAML)
    pytester.makepyfile(test_python_claims=PYTHON)
    off = ("-p", "no:cacheprovider", "--neurontest-report", "none", "--neurontest-no-cache")
    pytester.runpytest(*off, "--neurontest-match-neurons", "test_months.yaml").assert_outcomes(passed=2)
    yaml_results = _measurements(pytester)
    python = pytester.runpytest(*off, "--neurontest-model", "planted", "--neurontest-corpus",
                                "planted", "test_python_claims.py")
    python.assert_outcomes(passed=3)
    python_results = _measurements(pytester)
    direct = yaml_results["test_months.yaml::L0N3::activation[planted]"]
    matched = yaml_results["test_months.yaml::L0N3::activation[copy]"]
    fixture = python_results["test_python_claims.py::test_month_neuron"]
    assert direct == matched == fixture
    assert any(name == "f1" and bound is not None for name, _, _, _, bound in direct)
