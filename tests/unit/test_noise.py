"""noise_sensitivity on planted neurons."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from neurontest.measure.noise import noise_sensitivity  # noqa: E402
from neurontest.engine.models.planted import planted_model  # noqa: E402


@pytest.fixture(scope="module")
def planted():
    return planted_model()


@pytest.mark.parametrize("which", ["month", "promoter"])
def test_peaks_at_the_month(planted, which):
    neuron = getattr(planted, which).neuron
    result = noise_sensitivity(planted.model, neuron, "we met in March", target=3, draws=16)
    assert result.str_tokens == ["we", "met", "in", "March"]
    assert result.target == 3 and result.clean > 1.0
    assert len(result.change) == 4
    magnitudes = [abs(c) for c in result.change]
    assert magnitudes.index(max(magnitudes)) == 3
    assert result.most_sensitive() == 3
    if which == "month":  # layer 0 writes nothing through attention: other tokens cannot matter
        assert magnitudes[:3] == [0.0, 0.0, 0.0]


def test_reproducible_and_causal(planted):
    neuron = planted.promoter.neuron
    text = "we met in March and the cat sat"
    a = noise_sensitivity(planted.model, neuron, text, target=3, seed=1)
    b = noise_sensitivity(planted.model, neuron, text, target=3, seed=1)
    c = noise_sensitivity(planted.model, neuron, text, target=3, seed=2)
    assert a.change == b.change and a.change != c.change
    assert a.change[4:] == [0.0] * 4  # tokens after the target cannot reach it
    assert noise_sensitivity(planted.model, neuron, text, target=-5).target == 3


def test_scale_zero_changes_nothing(planted):
    result = noise_sensitivity(planted.model, planted.month.neuron, "in May", scale=0.0)
    assert result.change == [0.0, 0.0]


def test_target_out_of_range(planted):
    with pytest.raises(ValueError, match="out of range"):
        noise_sensitivity(planted.model, planted.month.neuron, "in May", target=2)
