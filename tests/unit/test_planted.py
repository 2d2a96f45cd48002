"""The planted model's neurons behave exactly as documented, so other tests can trust them."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")

from neurontest.engine.run.activations import neuron_activations  # noqa: E402
from neurontest.engine.models.loading import model_fingerprint  # noqa: E402
from neurontest.engine.models.planted import (  # noqa: E402
    MONTHS,
    PlantedNeuron,
    _build,
    planted_corpus_texts,
    planted_model,
)
from neurontest.engine.data.tokens import encode_texts  # noqa: E402


@pytest.fixture(scope="module")
def planted():
    return planted_model()


@pytest.fixture(scope="module")
def corpus_run(planted):
    """Activations of every planted neuron on the corpus plus one text holding every word."""
    texts = planted_corpus_texts(120) + [" ".join(planted.vocabulary)]
    batch = encode_texts(planted.tokenizer, texts)
    acts = neuron_activations(planted.model, batch, [p.neuron for p in planted.neurons])
    words = [batch.str_tokens(planted.tokenizer, row) for row in range(len(batch))]
    return batch, acts, words


def _check_exact(neuron: PlantedNeuron, batch, acts, words) -> int:
    """Assert the ground truth at every real token; return how many tokens should fire."""
    fired = 0
    for row, row_words in enumerate(words):
        truth = neuron.fires_at(row_words)
        for pos, should_fire in enumerate(truth):
            if not batch.mask[row, pos]:
                continue
            value = float(acts[neuron.neuron][row, pos])
            if should_fire:
                fired += 1
                assert value > 1.0, (neuron.neuron, row_words, pos, value)
            else:
                assert abs(value) < 1e-6, (neuron.neuron, row_words, pos, value)
    return fired


def test_every_word_is_one_token(planted):
    batch = encode_texts(planted.tokenizer, [" ".join(planted.vocabulary)])
    assert batch.str_tokens(planted.tokenizer, 0) == ["<bos>", *planted.vocabulary]
    assert len(set(planted.vocabulary)) == len(planted.vocabulary)


@pytest.mark.parametrize("name", ["month", "digit", "promoter", "context"])
def test_planted_neuron_matches_ground_truth(planted, corpus_run, name):
    neuron = getattr(planted, name)
    assert neuron is not None
    assert _check_exact(neuron, *corpus_run) > 10


def test_layers_and_token_sets(planted):
    assert planted.month.neuron.layer == 0 and planted.digit.neuron.layer == 0
    assert planted.promoter.neuron.layer == planted.model.cfg.n_layers - 1
    assert planted.month.fires_on == frozenset(MONTHS) == planted.promoter.fires_on
    assert "2020" in planted.digit.fires_on and "January" not in planted.digit.fires_on
    assert planted.promoter.promotes == "2020"
    assert {n.neuron for n in planted.neurons} == {
        planted.month.neuron, planted.digit.neuron, planted.promoter.neuron, planted.context.neuron
    }


def test_context_neuron_needs_an_earlier_not(planted):
    texts = ["the food was not good", "the food was good", "good not good", "not good"]
    batch = encode_texts(planted.tokenizer, texts)
    acts = neuron_activations(planted.model, batch, [planted.context.neuron])[planted.context.neuron]
    assert acts[0, 5] > 1.0  # <bos> the food was not good
    assert abs(float(acts[1, 4])) < 1e-6
    assert abs(float(acts[2, 1])) < 1e-6 and acts[2, 3] > 1.0
    assert acts[3, 2] > 1.0
    assert planted.context.fires_at(["good", "not", "good", "cat"]) == [False, False, True, False]


def _promoted_logprob(planted, text: str, pos: int, ablate: bool) -> float:
    model, neuron = planted.model, planted.promoter.neuron
    tokens = encode_texts(planted.tokenizer, [text]).tokens

    def zero(value, hook=None):
        value[..., neuron.index] = 0.0
        return value

    hooks = [(neuron.hook_name, zero)] if ablate else []
    with torch.inference_mode():
        logits = model.run_with_hooks(tokens, fwd_hooks=hooks)
    logprobs = torch.log_softmax(logits[0, pos].float(), dim=-1)
    return float(logprobs[planted.token_id(planted.promoter.promotes)])


def test_promoter_promotes_its_token_at_month_positions(planted):
    text = "we met in March"  # March is at position 4 (after <bos>)
    clean = _promoted_logprob(planted, text, 4, ablate=False)
    ablated = _promoted_logprob(planted, text, 4, ablate=True)
    assert clean > -0.5  # "2020" is the confident next-token prediction after a month
    assert ablated < clean - 3.0
    # At a non-month position the neuron is silent, so ablating it changes nothing.
    assert _promoted_logprob(planted, text, 3, False) == pytest.approx(
        _promoted_logprob(planted, text, 3, True), abs=1e-6
    )


def test_unplanted_neurons_are_alive_but_small(planted):
    from neurontest.engine.units.neuron import NeuronRef

    batch = encode_texts(planted.tokenizer, planted_corpus_texts(30))
    others = [NeuronRef(layer, 0) for layer in (0, 1)] + [NeuronRef(0, 31), NeuronRef(1, 31)]
    acts = neuron_activations(planted.model, batch, others)
    for ref, values in acts.items():
        real = values[batch.mask].abs()
        assert 0.0 < float(real.max()) < 2.0, ref


def test_cached_per_seed_and_fingerprint_stable(planted):
    assert planted_model(0) is planted
    assert planted.model.neurontest_name == "planted"
    assert planted.model.neurontest_revision is None
    fresh = _build(0)
    assert model_fingerprint(fresh.model) == model_fingerprint(planted.model)
    assert model_fingerprint(_build(1).model) != model_fingerprint(planted.model)


def test_builds_fast(planted):
    start = time.perf_counter()
    _build(7)
    elapsed = time.perf_counter() - start
    print(f"planted model built in {elapsed:.2f} s")
    assert elapsed < 3.0


def test_corpus_is_deterministic_and_covers_the_cases():
    texts = planted_corpus_texts(200, seed=0)
    assert texts == planted_corpus_texts(200, seed=0)
    assert texts != planted_corpus_texts(200, seed=1)
    assert len(texts) == 200
    joined = " ".join(texts).split()
    assert any(w in MONTHS for w in joined)
    assert any(w.isdigit() for w in joined)
    assert any("not" in t.split() and "good" in t.split() for t in texts)
    assert any("good" in t.split() and "not" not in t.split() for t in texts)


def test_the_planted_words_import_without_torch():
    # The corpus loader writes planted sentences without building (or importing) a model.
    code = "import sys, neurontest.engine.data.planted_texts; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
