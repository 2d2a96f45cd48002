"""Several checkpoints in one run: one item per model, suffixed ids, neuron matching, the matrix."""

from __future__ import annotations

from pathlib import Path

import pytest

from .planted_yaml import MONTH_NEURON, PLANTED_CORPUS

CLAIMS = PLANTED_CORPUS + "neurons:\n" + MONTH_NEURON + """\
      - kind: activation
        f1: ">= 0.99"
      - kind: examples
        fires: ["we met in [[March]]"]
"""


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two saved checkpoints: an exact copy, and one with the month neuron moved to L0N20 and
    the previous-token head L1H1 moved to L1H3."""
    from neurontest.engine.models.planted import (MONTH_NEURON, permute_layer_heads, permute_layer_neurons,
                                           planted_hf_model, save_planted_folder)

    root = tmp_path_factory.mktemp("checkpoints")
    perm = list(range(32))
    perm[MONTH_NEURON.index], perm[20] = 20, MONTH_NEURON.index
    moved = planted_hf_model()
    permute_layer_neurons(moved, 0, perm)
    permute_layer_heads(moved, 1, [0, 3, 2, 1])
    return {"copy": save_planted_folder(root / "copy"),
            "permuted": save_planted_folder(root / "permuted", moved)}


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none", *args)


def test_models_list_gives_one_item_per_model(pytester: pytest.Pytester,
                                              checkpoints: dict[str, Path]) -> None:
    pytester.makefile(".yaml", test_months=f"models: [planted, {checkpoints['copy']}]\n" + CLAIMS)
    result = run(pytester, "--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_months.yaml::L0N3::activation[planted]",
                                 "test_months.yaml::L0N3::activation[copy]",
                                 "test_months.yaml::L0N3::examples[planted]",
                                 "test_months.yaml::L0N3::examples[copy]"])
    run(pytester).assert_outcomes(passed=4)
    run(pytester, "-k", "copy").assert_outcomes(passed=2)


def test_single_model_ids_stay_short(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_months="model: planted\n" + CLAIMS)
    result = run(pytester, "--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_months.yaml::L0N3::activation"])
    assert "[planted]" not in result.stdout.str()


def test_also_model_option_adds_a_model(pytester: pytest.Pytester,
                                        checkpoints: dict[str, Path]) -> None:
    pytester.makefile(".yaml", test_months="model: planted\n" + CLAIMS)
    result = run(pytester, "--neurontest-also-model", str(checkpoints["permuted"]))
    # The permuted checkpoint's L0N3 is a background neuron: the claims fail there.
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*FAILED test_months.yaml::L0N3::activation[[]permuted[]]*"])


def test_model_and_models_together_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_months="model: planted\nmodels: [planted]\n" + CLAIMS)
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*give either `model:` or `models:`*"])


def test_match_neurons_tests_the_matched_neuron(pytester: pytest.Pytester,
                                                checkpoints: dict[str, Path]) -> None:
    pytester.makefile(".yaml", test_months=f"models: [planted, {checkpoints['permuted']}]\n" + CLAIMS)
    result = run(pytester, "--neurontest-match-neurons")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*matched L0N3 -> L0N20 on permuted (r = 1.000)*"])


HEAD_CLAIM = """\
  - id: L1H1
    claims:
      - kind: attends
        to: previous
        mass: ">= 0.9"
"""


def test_match_neurons_follows_a_moved_head(pytester: pytest.Pytester,
                                            checkpoints: dict[str, Path]) -> None:
    models = f"models: [planted, {checkpoints['permuted']}]\n"
    pytester.makefile(".yaml", test_heads=models + PLANTED_CORPUS + "neurons:\n" + HEAD_CLAIM)
    run(pytester).assert_outcomes(passed=1, failed=1)  # L1H1 of the permuted model is another head
    result = run(pytester, "--neurontest-match-neurons")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*matched L1H1 -> L1H3 on permuted (r = 1.000)*"])


def test_claims_matrix_from_a_run(pytester: pytest.Pytester, checkpoints: dict[str, Path]) -> None:
    from neurontest.report.matrix import claims_matrix, matrix_markdown
    from neurontest.plugin import session_key

    pytester.makefile(".yaml", test_months=f"models: [planted, {checkpoints['permuted']}]\n" + CLAIMS)

    class Grab:
        records: list = []

        def pytest_sessionfinish(self, session: pytest.Session) -> None:
            Grab.records = list(session.config.stash[session_key].records.values())

    pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none", plugins=[Grab()])
    rows, columns, cells = claims_matrix(Grab.records)
    assert rows == ["test_months.yaml::L0N3::activation", "test_months.yaml::L0N3::examples"]
    assert columns == ["planted", "permuted"]
    assert cells[(rows[0], "planted")].outcome == "passed"
    assert cells[(rows[0], "planted")].metric == "f1" and cells[(rows[0], "planted")].value == 1.0
    assert cells[(rows[0], "permuted")].outcome == "failed"
    assert "| `test_months.yaml::L0N3::activation` | passed (f1 1) | failed (f1 " in matrix_markdown(
        claims_matrix(Grab.records))
