"""One pass over the corpus per session: a neuron (ranked among its layer), an attention head
claimed twice (two `to:` forms on one head), an SAE latent and a direction are all read by the
session's one mining pass,
counted by wrapping the engine's pass; a warm run whose claim results are forgotten reads every
statistic from the activation cache and runs no pass at all."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unit.test_units import D_MODEL, PROMOTED_DIM, write_saelens
from .planted_yaml import HEADER, MONTHS

SESSION = f"""\
  - id: L0N3
    fires_on: {{tokens: {MONTHS}}}
    threshold: 1.0
    claims:
      - kind: activation
        f1: ">= 0.99"
        rank_in_layer: "<= 1"
  - id: L1H1
    claims:
      - kind: attends
        to: previous
        mass: ">= 0.999"
      - kind: attends
        to: {{tokens: {MONTHS}}}
        from: {{regex: '^\\d+$'}}
        mass: "<= 0.9"
      - kind: attends
        id: previous-again
        to: previous
        from: {{tokens: {MONTHS}}}
        mass: ">= 0.999"
  - sae: saes/month
    latent: 0
    fires_on: {{tokens: {MONTHS}}}
    threshold: 1.0
    claims:
      - kind: activation
        f1: ">= 0.99"
  - direction: promoted.npy
    hook: blocks.1.hook_mlp_out
    fires_on: {{tokens: {MONTHS}}}
    threshold: 0.05
    claims:
      - kind: activation
        f1: ">= 0.99"
"""


@pytest.fixture
def counted_passes(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Each mining pass over the corpus, as the short ids of the units it read."""
    import neurontest.engine.run.activation_cache as activation_cache

    passes: list[list[str]] = []
    real = activation_cache.neuron_activations

    def counting(model: Any, batch: Any, units: Any, **kwargs: Any) -> Any:
        passes.append(sorted(u.short_id for u in units))
        return real(model, batch, units, **kwargs)

    monkeypatch.setattr(activation_cache, "neuron_activations", counting)
    return passes


def test_every_unit_kind_is_read_in_one_pass(pytester: pytest.Pytester, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             counted_passes: list[list[str]]) -> None:
    import torch

    write_saelens(pytester.path / "saes" / "month")
    vector = torch.zeros(D_MODEL)
    vector[PROMOTED_DIM] = 2.0
    np.save(pytester.path / "promoted.npy", vector.numpy())
    pytester.makefile(".yaml", test_session=HEADER + textwrap.dedent(SESSION))
    cache = tmp_path / "cache"
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(cache))

    cold = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--neurontest-report", "none")
    assert cold.ret == 0, cold.stdout.str()
    assert cold.parseoutcomes() == {"passed": 6}
    assert len(counted_passes) == 1, counted_passes
    (units,) = counted_passes
    # The head's two `previous` claims share one statistic; the month-source claim has its own.
    assert sum(u.startswith("L1H1:") for u in units) == 2, units
    # ... and every neuron of layer 0 is scored against the month predicate in the same pass.
    assert "L0N3" in units and "L0N3:layer" in units and len(units) == 6, units
    assert list((cache / "activations").rglob("L1H1.attn-offset-1.pt"))

    shutil.rmtree(cache / "results")  # forget the verdicts, keep the mined statistics
    counted_passes.clear()
    warm = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--neurontest-report", "none")
    assert warm.ret == 0, warm.stdout.str()
    assert warm.parseoutcomes() == {"passed": 6}
    assert counted_passes == []
