"""The primitives on the embedded SmolLM2 (marked real_model: slower, needs the embedded wheel)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from neurontest.measure.ablation import ablate  # noqa: E402
from neurontest.measure.attribution import (  # noqa: E402
    direct_effect,
    frozen_norm_ablation,
    logit_attribution,
)
from neurontest.engine.units.neuron import NeuronRef  # noqa: E402
from neurontest.measure.noise import noise_sensitivity  # noqa: E402
from neurontest.measure.optimize import optimize_prompts  # noqa: E402
from neurontest.measure.readout import activations_on_texts  # noqa: E402
from neurontest.measure.simplify import simplify  # noqa: E402

pytestmark = pytest.mark.real_model

TEXTS = ["The Eiffel Tower is in Paris, the capital of France.", "January, February, March, April"]
LAST_LAYER = NeuronRef(29, 1267)  # fires strongly on the Eiffel sentence
EARLY = NeuronRef(3, 88)  # peaks on " of" in "the capital of"


@pytest.fixture(scope="module")
def model():
    from neurontest.errors import ModelUnavailableError
    from neurontest.engine.models.loading import load_model

    try:
        return load_model()
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))


def test_dla_matches_last_layer_ablation(model):
    dla = direct_effect(model, LAST_LAYER, TEXTS, token=" Paris")
    measured = frozen_norm_ablation(model, LAST_LAYER, TEXTS, token=" Paris")
    for d, m in zip(dla, measured):
        assert max(abs(x) for x in m) > 0.05  # the check is not vacuous
        assert d.dla == pytest.approx(m, abs=1e-4)


def test_logit_attribution_uses_own_layer(model):
    a = logit_attribution(model, LAST_LAYER, k=5)
    b = logit_attribution(model, EARLY, k=5)
    assert len(a.promoted) == 5 and a.promoted != b.promoted


def test_readout_and_ablation_shapes(model):
    acts = activations_on_texts(model, EARLY, TEXTS)
    assert acts[0].max()[0] == acts[0].str_tokens.index(" of")
    effects = ablate(model, [EARLY, LAST_LAYER], TEXTS, targets=[" Paris"])
    for e, a in zip(effects, acts):
        assert len(e.kl) == len(a.str_tokens) == len(e.true_next_logprob_diff) + 1
        assert min(e.kl) >= 0.0


def test_noise_shapes(model):
    result = noise_sensitivity(model, EARLY, TEXTS[0], target=10, draws=4)
    assert result.str_tokens[10] == " of"
    assert len(result.change) == len(result.str_tokens) == 13
    assert result.change[11:] == [0.0, 0.0]
    assert result.clean > 1.0


def test_simplify_runs(model):
    result = simplify(model, EARLY, TEXTS[0], target=10, min_tokens=3)
    assert [len(s.str_tokens) for s in result.steps] == list(range(11, 2, -1))
    assert all(s.str_tokens[-1] == " of" for s in result.steps)


def test_optimize_runs_five_steps(model):
    found = optimize_prompts(model, EARLY, n_prompts=2, length=4, steps=5)
    assert len(found) == 2
    for p in found:
        assert len(p.token_ids) == 4 and len(p.str_tokens) == 4
        again = activations_on_texts(model, EARLY, [p.text])[0]
        if len(again.values) == 4:  # decode/encode need not round-trip on a BPE vocabulary
            assert again.values[-1] == pytest.approx(p.activation, abs=1e-4)


@pytest.mark.parametrize("neuron", [EARLY, LAST_LAYER], ids=str)
def test_prefix_run_shortcuts_match_plain_forwards(model, neuron):
    from neurontest.engine.run import prefix_runs
    from neurontest.engine.data.tokens import encode

    ids = encode(model.tokenizer, "In 1987, 1988 and 1989 the prices rose by 12, 14 and 19 percent")
    noise = torch.randn(int(model.cfg.d_model), generator=torch.Generator().manual_seed(0))
    variants = [prefix_runs.Variant(tuple(ids), p, p, noise) for p in range(1, len(ids))]
    variants += [prefix_runs.Variant(tuple(ids[:j] + ids[j + 1 :] + ids[1:2]), j) for j in range(1, len(ids) - 1)]
    shared = prefix_runs._shared_activations(model, neuron, ids, variants, batch_size=16)
    plain = prefix_runs.plain_activations(model, neuron, variants, batch_size=16)
    packed = prefix_runs.packed_activations(model, neuron, ids, variants, pack_tokens=128)
    fast = prefix_runs.plain_activations(model, neuron, variants, batch_size=16, fast=True)
    assert plain.std() > 0
    for shortcut in (shared, packed, fast):
        assert torch.allclose(shortcut, plain, atol=1e-4, rtol=1e-4)
