"""Direct logit attribution of planted neurons, checked against a real ablation."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from neurontest.measure.attribution import (  # noqa: E402
    direct_effect,
    frozen_norm_ablation,
    logit_attribution,
)
from neurontest.engine.models.planted import MONTHS, PROMOTED, planted_model  # noqa: E402

TEXTS = ["we met in March", "on 3 May and in June 2020 ."]


@pytest.fixture(scope="module")
def planted():
    return planted_model()


def test_promoter_promotes_its_token(planted):
    result = logit_attribution(planted.model, planted.promoter.neuron, k=5)
    assert result.promoted[0][0] == PROMOTED
    assert len(result.promoted) == len(result.suppressed) == 5
    assert result.promoted[0][1] > 0 > result.suppressed[0][1]


def test_dla_equals_ablation_with_frozen_norm(planted):
    neuron = planted.promoter.neuron
    dla = direct_effect(planted.model, neuron, TEXTS, token=PROMOTED, batch_size=1)
    measured = frozen_norm_ablation(planted.model, neuron, TEXTS, token=PROMOTED)
    for d, m in zip(dla, measured):
        assert d.dla == pytest.approx(m, abs=1e-4)
        assert len(d.dla) == len(d.str_tokens) == len(d.activations) == len(d.scale)
        for word, value in zip(d.str_tokens, d.dla):
            assert (value > 1.0) if word in MONTHS else (value == 0.0)


def test_token_by_id_and_errors(planted):
    neuron = planted.promoter.neuron
    by_id = direct_effect(planted.model, neuron, TEXTS[:1], token=planted.token_id(PROMOTED))
    assert by_id[0].token == PROMOTED
    with pytest.raises(ValueError, match="not a single token"):
        direct_effect(planted.model, neuron, TEXTS, token="2020 2021")


def test_logit_direction_reads_the_neurons_own_layer(planted):
    import torch

    from neurontest.measure.attribution import final_norm_gain, logit_direction
    from neurontest.engine.units.neuron import NeuronRef

    model = planted.model
    gain, centred = final_norm_gain(model)
    stacked = model.W_out  # every layer's W_out, as the bridge stacks it
    for neuron in (NeuronRef(0, 3), NeuronRef(model.cfg.n_layers - 1, 5)):
        w = stacked[neuron.layer][neuron.index].float()
        w = w - w.mean() if centred else w
        expected = (w * gain) @ model.W_U.float()
        assert torch.equal(logit_direction(model, neuron), expected.detach())


def test_vocabulary_ranks_place_tokens_among_all_of_them():
    import torch

    from neurontest.measure.attribution import vocabulary_ranks

    direction = torch.tensor([0.0, 3.0, -2.0, 1.0, 0.5])
    up = vocabulary_ranks(direction, [2, 1])
    assert [(r.token_id, r.rank) for r in up] == [(1, 1), (2, 5)]
    assert up[0].z > 0 > up[1].z
    assert up[0].z == pytest.approx((3.0 - 0.5) / float(direction.std(unbiased=False)))
    down = vocabulary_ranks(direction, [2, 1], promoted=False)
    assert [(r.token_id, r.rank) for r in down] == [(2, 1), (1, 5)]


def test_promoted_token_ranks_first_in_the_planted_vocabulary(planted):
    from neurontest.measure.attribution import logit_direction, vocabulary_ranks

    promoted_id = planted.token_id(PROMOTED)
    rank = vocabulary_ranks(logit_direction(planted.model, planted.promoter.neuron), [promoted_id])[0]
    assert rank.rank == 1 and rank.z > 3
