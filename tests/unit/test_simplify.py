"""simplify on planted neurons."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from neurontest.engine.models.planted import NEGATION, TARGET, planted_model  # noqa: E402
from neurontest.measure.simplify import simplify  # noqa: E402


@pytest.fixture(scope="module")
def planted():
    return planted_model()


def test_keeps_the_trigger(planted):
    text = "the cat sat on the mat in March"
    result = simplify(planted.model, planted.promoter.neuron, text)
    steps = result.steps
    assert steps[0].str_tokens == text.split() and steps[0].removed is None
    assert [len(s.str_tokens) for s in steps] == list(range(8, 0, -1))
    assert all(s.str_tokens[-1] == "March" for s in steps)
    assert all(s.removed is not None for s in steps[1:])
    minimal = result.minimal(0.9)
    assert minimal.str_tokens == ["March"]
    assert minimal.activation >= 0.9 * result.original


def test_context_trigger_survives(planted):
    # CONTEXT fires on "good" only after an earlier "not": the minimal form must keep "not".
    text = "the movie was not very good"
    result = simplify(planted.model, planted.context.neuron, text, min_tokens=1)
    minimal = result.minimal(0.5)
    assert minimal.str_tokens == [NEGATION, TARGET]
    assert result.steps[-1].str_tokens == [TARGET] and result.steps[-1].activation < 1e-6


def test_target_in_the_middle_and_min_tokens(planted):
    text = "we met in March and the cat sat"
    result = simplify(planted.model, planted.month.neuron, text, target=3, min_tokens=2)
    assert result.steps[0].str_tokens == ["we", "met", "in", "March"]  # later tokens dropped
    assert len(result.steps[-1].str_tokens) == 2
    assert all(s.str_tokens[-1] == "March" for s in result.steps)


def test_bad_arguments(planted):
    with pytest.raises(ValueError, match="min_tokens"):
        simplify(planted.model, planted.month.neuron, "in May", min_tokens=0)
    with pytest.raises(ValueError, match="out of range"):
        simplify(planted.model, planted.month.neuron, "in May", target=5)
