"""SAE latents, a direction and an attention head through the pytest plugin on the planted model:
collection, node ids, strict xfails, two xdist workers sharing one activation cache, remembered
results on a warm run, and the HTML report."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from unit.test_units import D_MODEL, PROMOTED_DIM, write_saelens, write_sparsify
from .planted_yaml import HEADER, MONTHS

pytest.importorskip("xdist")

UNITS = f"""\
  - sae: saes/month
    latent: 0
    fires_on: {{tokens: {MONTHS}}}
    threshold: 1.0
    claims:
      - kind: activation
        f1: ">= 0.99"
      - kind: simplify
        text: "the cat sat in the park in [[March]]"
      - kind: activation
        id: digits
        fires_on: {{regex: '^\\d+$'}}
        precision: ">= 0.5"
        xfail: months, not digits
  - sae: saes/layers.1.mlp
    latent: 0
    claims:
      - kind: logit_attribution
        matches: {{tokens: ["2020"]}}
        k: 1
        share: ">= 1"
  - direction: promoted.npy
    hook: blocks.1.hook_mlp_out
    fires_on: {{tokens: {MONTHS}}}
    threshold: 0.05
    claims:
      - kind: activation
        f1: ">= 0.99"
  - id: L1H1
    claims:
      - kind: attends
        to: previous
        mass: ">= 0.999"
"""


def _outcomes(result: pytest.RunResult) -> dict[str, int]:
    return result.parseoutcomes()


def test_units_run_through_the_plugin_with_xdist_and_remembered_results(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torch

    write_saelens(pytester.path / "saes" / "month")
    write_sparsify(pytester.path / "saes")
    vector = torch.zeros(D_MODEL)
    vector[PROMOTED_DIM] = 2.0
    np.save(pytester.path / "promoted.npy", vector.numpy())
    pytester.makefile(".yaml", test_units=HEADER + textwrap.dedent(UNITS))
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path / "cache"))

    collected = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--collect-only", "-q")
    ids = [line for line in collected.stdout.lines if "::" in line]
    assert "test_units.yaml::saes/month#0::activation" in ids
    assert "test_units.yaml::dir:promoted@blocks.1.hook_mlp_out::activation" in ids
    assert "test_units.yaml::L1H1::attends" in ids

    report = tmp_path / "report.html"
    cold = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2",
                                         "--neurontest-report", str(report))
    assert cold.ret == 0, cold.stdout.str()
    assert _outcomes(cold) == {"passed": 5, "xfailed": 1}
    assert "saes/month#0" in report.read_text(encoding="utf-8")
    cached = list((tmp_path / "cache" / "activations").rglob("sae-*.pt"))
    assert cached, "latent activations reach the shared activation cache"

    warm = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--neurontest-report", "none")
    assert warm.ret == 0, warm.stdout.str()
    assert _outcomes(warm) == {"passed": 5, "xfailed": 1}
