"""Neuron matching: a permuted copy of the planted model has its month neuron at another index."""

from __future__ import annotations

import pytest

from neurontest.lab import CorpusOptions, Lab
from neurontest.measure.matching import check_same_tokenizer, match_neuron
from neurontest.errors import TokenizerMismatchError
from neurontest.engine.units.neuron import NeuronRef
from neurontest.engine.models.planted import MONTH_NEURON, planted_model, planted_model_permuted

CORPUS = CorpusOptions("planted", window=16, n_tokens=None)


def lab(model) -> Lab:
    return Lab(model, CORPUS, cache=False, progress=False)


@pytest.fixture(scope="module")
def permuted():
    return planted_model_permuted(month_to=20)


def test_match_finds_the_moved_month_neuron(permuted) -> None:
    assert permuted.month.neuron == NeuronRef(0, 20)
    match = match_neuron(lab(planted_model().model), MONTH_NEURON, lab(permuted.model))
    assert match.neuron_b == NeuronRef(0, 20)
    assert match.correlation == pytest.approx(1.0, abs=1e-6)
    assert match.runner_up < 0.5  # no other layer-0 neuron is close
    assert match.neuron_a == MONTH_NEURON and match.n_tokens > 1000
    assert "L0N3 -> L0N20 (r = 1.000" in match.describe()


def test_month_claim_passes_on_the_matched_neuron_only(permuted) -> None:
    from neurontest.claims.activation import ActivationClaim
    from neurontest.claims.base import Subject, Threshold
    from neurontest.claims.predicates import predicate_from_dict
    from neurontest.engine.models.planted import MONTHS

    predicate = predicate_from_dict({"tokens": MONTHS})
    lab_b = lab(permuted.model)

    def claim(neuron: NeuronRef) -> ActivationClaim:
        return ActivationClaim(Subject(neuron, predicate, Threshold(1.0)), {"f1": ">= 0.99"})

    match = match_neuron(lab(planted_model().model), MONTH_NEURON, lab_b)
    assert claim(match.neuron_b).run(lab_b).passed
    assert not claim(MONTH_NEURON).run(lab_b).passed  # the same index is now a noise neuron


def test_search_over_several_layers() -> None:
    reference = lab(planted_model().model)
    match = match_neuron(reference, MONTH_NEURON, reference, layers=[0, 1])
    assert match.neuron_b == MONTH_NEURON
    # L1N5 (PROMOTER) also fires exactly on months: a close second.
    assert match.runner_up > 0.9
    with pytest.raises(ValueError, match="layers 0..1"):
        match_neuron(reference, MONTH_NEURON, reference, layers=[2])


def test_different_tokenizers_are_refused() -> None:
    class Other:
        bos_token_id = 0

        def get_vocab(self) -> dict[str, int]:
            return {"a": 0, "b": 1}

    with pytest.raises(TokenizerMismatchError, match="tokenizers differ"):
        check_same_tokenizer(planted_model().tokenizer, Other())


def test_several_neurons_and_layers_in_one_pass(permuted) -> None:
    from neurontest.measure.matching import match_neurons
    from neurontest.engine.models.planted import CONTEXT_NEURON, DIGIT_NEURON

    wanted = [MONTH_NEURON, DIGIT_NEURON, CONTEXT_NEURON]
    found = match_neurons(lab(planted_model().model), wanted, lab(permuted.model))
    assert found[MONTH_NEURON].neuron_b == NeuronRef(0, 20)
    assert found[DIGIT_NEURON].neuron_b == DIGIT_NEURON
    assert found[CONTEXT_NEURON].neuron_b == CONTEXT_NEURON
    assert all(m.correlation == pytest.approx(1.0, abs=1e-6) for m in found.values())


# -- every unit kind: heads by output norm, SAE latents within their SAE, directions as they are --
def test_a_moved_head_is_matched_by_its_output_norm() -> None:
    from neurontest.engine.units.head import HeadRef
    from neurontest.engine.models.planted import PREVIOUS_HEAD

    moved = planted_model_permuted(month_to=20, previous_head_to=3)
    match = match_neuron(lab(planted_model().model), PREVIOUS_HEAD, lab(moved.model))
    assert match.neuron_b == HeadRef(1, 3)
    assert match.correlation == pytest.approx(1.0, abs=1e-6) and match.runner_up < 0.9
    assert "L1H1 -> L1H3 (r = 1.000" in match.describe()


def test_latents_match_within_their_sae_and_directions_stay(tmp_path, permuted) -> None:
    import numpy as np

    from neurontest.engine.units.direction import DirectionUnit
    from neurontest.engine.units.sae_latent import read_sae_folder
    from .test_units import D_MODEL, MONTH_DIM, write_saelens

    latent = read_sae_folder(write_saelens(tmp_path / "sae")).latent(0)
    vector = np.zeros(D_MODEL, dtype="float32")
    vector[MONTH_DIM] = 1.0
    np.save(tmp_path / "month.npy", vector)
    direction = DirectionUnit.load(tmp_path / "month.npy", "blocks.0.hook_mlp_out")
    from neurontest.measure.matching import match_neurons

    found = match_neurons(lab(planted_model().model), [latent, direction, MONTH_NEURON],
                          lab(permuted.model))
    assert found[latent].neuron_b == latent and found[latent].correlation == pytest.approx(1.0, abs=1e-6)
    assert found[direction].neuron_b == direction  # a fixed vector is its own match
    assert found[MONTH_NEURON].neuron_b == NeuronRef(0, 20)  # one pass of B for all three kinds
