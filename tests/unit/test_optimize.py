"""optimize_prompts on planted neurons."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from neurontest.measure.optimize import optimize_prompts  # noqa: E402
from neurontest.engine.models.planted import MONTHS, planted_model  # noqa: E402
from neurontest.measure.readout import activations_on_texts  # noqa: E402


@pytest.fixture(scope="module")
def planted():
    return planted_model()


def test_finds_a_month_for_month(planted):
    found = optimize_prompts(planted.model, planted.month.neuron, n_prompts=3, length=3, steps=30)
    assert len(found) == 3
    best = found[0]
    assert best.activation > 1.0 and best.str_tokens[-1] in MONTHS
    assert [p.activation for p in found] == sorted((p.activation for p in found), reverse=True)
    # The reported activation is that of the real tokens, re-measured by a plain readout.
    again = activations_on_texts(planted.model, planted.month.neuron, [best.text])[0]
    assert again.values[-1] == pytest.approx(best.activation, abs=1e-5)
    assert "<bos>" not in best.str_tokens and len(best.token_ids) == 3


def test_seeded_and_prefix(planted):
    kwargs = dict(n_prompts=2, length=2, steps=10, seed=5, prefix="we met")
    a = optimize_prompts(planted.model, planted.month.neuron, **kwargs)
    b = optimize_prompts(planted.model, planted.month.neuron, **kwargs)
    assert [p.token_ids for p in a] == [p.token_ids for p in b]
    assert all(p.str_tokens[:2] == ["we", "met"] and len(p.token_ids) == 4 for p in a)


def test_suffix_reads_the_suffix_token(planted):
    found = optimize_prompts(
        planted.model, planted.promoter.neuron, n_prompts=2, length=2, steps=5, suffix="March"
    )
    assert all(p.str_tokens[-1] == "March" and p.activation > 1.0 for p in found)
