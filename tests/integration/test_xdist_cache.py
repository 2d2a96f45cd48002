"""pytest-xdist: two workers sharing one on-disk activation cache give the same results as one
process, on the planted model (outcomes per test id, and identical cached tensors)."""

from __future__ import annotations

import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .planted_yaml import HEADER

pytest.importorskip("xdist")

MONTHS = """\
  - id: L0N3
    description: fires on month names
    fires_on: {tokens: [January, February, March, April, May, June, July, August, September, October, November, December]}
    threshold: 1.0
    claims:
      - kind: activation
        f1: ">= 0.99"
      - kind: top_examples
        k: 10
        share: ">= 1.0"
      - kind: noise
        text: "we met in [[March]]"
      - kind: simplify
        text: "the cat sat in the park in [[March]]"
      - kind: activation
        id: not-digits
        fires_on: {regex: '^\\d+$'}
        precision: ">= 0.5"
        xfail: months, not digits
"""

OTHERS = """\
  - id: L0N7
    description: a planted neuron, claimed loosely so the outcome is the same either way
    fires_on: {regex: '^\\d+$'}
    threshold: 1.0
    claims:
      - kind: activation
        f1: ">= 0.5"
  - id: L1N9
    fires_on: {tokens: [good]}
    threshold: 1.0
    claims:
      - kind: activation
        recall: ">= 0.3"
      - kind: examples
        silent: ["the food was [[good]]"]
"""


def _outcomes(junit: Path) -> dict[str, str]:
    """Test id -> outcome, from a JUnit XML report (written the same way with and without -n)."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        out[f"{case.get('classname')}::{case.get('name')}"] = kinds[0] if kinds else "passed"
    return out


def _cached(root: Path) -> dict[str, object]:
    import torch

    files = sorted((root / "activations").rglob("*.pt"))
    return {str(f.relative_to(root)): torch.load(f, weights_only=True)["values"] for f in files}


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, cache: Path, name: str,
         *extra: str) -> dict[str, str]:
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(cache))
    junit = pytester.path / f"{name}.xml"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--neurontest-report", "none",
                                           f"--junitxml={junit}", *extra)
    assert result.ret == 0, result.stdout.str()
    return _outcomes(junit)


def test_two_workers_sharing_a_cache_match_one_process(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytester.makefile(".yaml", test_months=HEADER + textwrap.dedent(MONTHS),
                      test_others=HEADER + textwrap.dedent(OTHERS))
    single, shared = tmp_path / "single-cache", tmp_path / "shared-cache"

    one = _run(pytester, monkeypatch, single, "one")
    cold = _run(pytester, monkeypatch, shared, "cold", "-n", "2")
    # Without remembered claim results every worker reads the activation cache.
    shutil.rmtree(shared / "results")
    warm = _run(pytester, monkeypatch, shared, "warm", "-n", "2")

    assert len(one) == 8 and list(one.values()).count("skipped") == 1  # the xfail
    assert cold == one and warm == one
    ours, theirs = _cached(single), _cached(shared)
    assert ours and ours.keys() == theirs.keys()
    import torch

    for key, values in ours.items():
        assert torch.equal(values, theirs[key]), key
    # No temp files left behind by the concurrent atomic writes (".lock" is the mining lock).
    leftovers = [p for p in (shared / "activations").rglob(".*") if p.name != ".lock"]
    assert not leftovers
