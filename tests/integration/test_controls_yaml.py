"""`control:` on ablation claims, end to end from YAML on the planted model (issue 23, part 2):
a unit whose effect stands out among random units of its layer passes, one that does what any
unit does fails, too few controls is invalid, and an undrawable control is a collection error."""

from __future__ import annotations

import textwrap

import pytest

from .planted_yaml import HEADER

OFF = ("-p", "no:cacheprovider", "--neurontest-report", "none", "--neurontest-no-cache")
TEXTS = ('["we met in [[March]] 2020", "it was [[May]] 2020", "in [[June]] 2020 we came", '
         '"the [[April]] rain", "on 3 [[July]] 2020"]')


def claim(unit: str, effect: str, control: str) -> str:
    return textwrap.dedent(f"""\
      - id: {unit}
        claims:
          - kind: ablation
            target: "2020"
            effect: "{effect}"
            texts: {TEXTS}
            control: {control}
    """)


def test_a_standout_unit_passes_and_a_random_like_one_fails(pytester: pytest.Pytester) -> None:
    control = '{units: 19, seed: 0, percentile: ">= 0.95", p_value: "<= 0.05"}'
    # L1N5 promotes "2020" after months; L1N12 is unplanted (no effect, like every control), so
    # its `effect <= 0` holds but says nothing about it.
    pytester.makefile(".yaml", test_controls=HEADER + claim("L1N5", "<= -0.5", control)
                      + claim("L1N12", "<= 0", control))
    result = pytester.runpytest(*OFF, "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*L1N5::ablation PASSED*", "*L1N12::ablation FAILED*",
                                 "*p_value = 1 (expected <= 0.05*"])


def test_too_few_controls_is_invalid(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_controls=HEADER + claim("L1N5", "<= -0.5", '{units: 5, p_value: "<= 0.05"}'))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cannot be met by 5 control(s)*at least 19*"])


def test_an_undrawable_control_is_a_one_line_collection_error(pytester: pytest.Pytester) -> None:
    # As every claim check, it fails its file's collection; other files still run.
    pytester.makefile(".yaml", test_controls=HEADER + claim("L1N5", "<= -0.5", "{units: 40}"),
                      test_other=HEADER + claim("L1N5", "<= -0.5", "{units: 3}"))
    result = pytester.runpytest(*OFF)
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(["*holds only 31 other unit(s) of L1N5's kind*at most 31*"])
