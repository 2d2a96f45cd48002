"""Hostile hypothesis files under pytest (issue 14): each is one collection error for its own
file, with a one-line message naming it, and the other files' claims still run."""

from __future__ import annotations

import textwrap

import pytest

from .planted_yaml import HEADER, MONTH_NEURON

GOOD = HEADER + MONTH_NEURON + """\
      - kind: activation
        f1: ">= 0.99"
"""

BAD = {
    "test_dupkey": GOOD + '        f1: ">= 0.5"\n',
    "test_laughs": textwrap.dedent("""\
        a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]
        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
        d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
        e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
        f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
        neurons: [*f]
        """),
    "test_window": GOOD.replace("window: 16", "window: sixty-four"),
    "test_twice": GOOD + MONTH_NEURON + "      - kind: activation\n        f1: \">= 0.5\"\n",
}


def test_bad_files_are_collection_errors_and_good_ones_run(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_good=GOOD, **BAD)
    pytester.path.joinpath("test_utf16.yaml").write_bytes(GOOD.encode("utf-16"))
    result = pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none")
    result.assert_outcomes(passed=1, errors=len(BAD) + 1)
    output = result.stdout.str()
    for name in [*BAD, "test_utf16"]:
        assert f"ERROR {name}.yaml" in output, name
    assert "Traceback" not in output
    for fragment in ("duplicate key 'f1'", "expands to more than", "`window:` is a whole number",
                     "L0N3 appears twice", "UTF-16"):
        assert fragment in output, fragment
