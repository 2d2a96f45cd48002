"""`rank_in_layer` and `specificity` on the planted model: every neuron of the layer is scored
against the claim's predicate in the mining pass; where two units fit one predicate the better
one ranks first and the other's claim fails naming it; vacuous rank bounds are invalid; a unit
with no layer (a direction) is a collection error."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from .planted_yaml import HEADER, MONTHS

DIGITS = "{regex: '^[0-9]+$'}"


def _run(pytester: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    pytester.makefile(".yaml", test_rank=HEADER + textwrap.dedent(body))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--neurontest-no-cache",
                                         "--neurontest-report", "none", "-rA", *args)


def test_the_unit_that_fits_best_ranks_first_and_a_sibling_is_named(pytester: pytest.Pytester) -> None:
    # Months or digits: the month neuron L0N3 and the digit neuron L0N7 each fit half of it.
    either = f"{{any_of: [{{tokens: {MONTHS}}}, {DIGITS}]}}"
    result = _run(pytester, f"""\
        - id: L0N3
          fires_on: {{tokens: {MONTHS}}}
          threshold: 1.0
          claims:
            - kind: activation
              id: months
              rank_in_layer: "<= 1"
              specificity: ">= 0.95"
            - kind: activation
              id: either
              fires_on: {either}
              rank_in_layer: "<= 1"
        - id: L0N7
          fires_on: {either}
          threshold: 1.0
          claims:
            - kind: activation
              id: either
              rank_in_layer: "<= 1"
        """)
    out = result.stdout.str()
    assert result.parseoutcomes() == {"passed": 2, "failed": 1}, out
    passed = [line for line in result.stdout.lines if line.startswith("PASSED")]
    failed = [line for line in result.stdout.lines if line.startswith("FAILED")]
    assert any("L0N3::months" in line for line in passed), out
    # Whichever of the two fits months-or-digits less well fails, naming the other as better.
    loser = "L0N3" if any("L0N3::either" in line for line in failed) else "L0N7"
    winner = {"L0N3": "L0N7", "L0N7": "L0N3"}[loser]
    assert any(f"{loser}::either" in line for line in failed), out
    assert f"units that fit better: {winner} " in out, out
    assert f"this predicate is about {winner}" in out, out


def test_a_rank_half_the_layer_meets_is_invalid(pytester: pytest.Pytester) -> None:
    result = _run(pytester, f"""\
        - id: L0N3
          fires_on: {{tokens: {MONTHS}}}
          threshold: 1.0
          claims:
            - kind: activation
              specificity: ">= 0.3"
        """)
    assert result.parseoutcomes() == {"failed": 1}, result.stdout.str()
    assert "is met by half of the layer's units" in result.stdout.str()


def test_a_direction_has_no_layer_to_rank_in(pytester: pytest.Pytester) -> None:
    vector = np.zeros(80, dtype=np.float32)
    vector[0] = 1.0
    np.save(pytester.path / "v.npy", vector)
    result = _run(pytester, f"""\
        - direction: v.npy
          hook: blocks.1.hook_mlp_out
          fires_on: {{tokens: {MONTHS}}}
          threshold: 0.05
          claims:
            - kind: activation
              rank_in_layer: "<= 3"
        """)
    out = result.stdout.str()
    assert "has no layer of siblings to rank it among" in out, out
    assert result.ret != 0
