"""top_examples / random_examples on a planted corpus."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from neurontest.engine.run.activations import neuron_activations  # noqa: E402
from neurontest.engine.models.planted import MONTHS, planted_corpus_texts, planted_model  # noqa: E402
from neurontest.engine.data.tokens import encode_texts  # noqa: E402
from neurontest.measure.top_examples import random_examples, top_examples  # noqa: E402


@pytest.fixture(scope="module")
def run():
    planted = planted_model()
    batch = encode_texts(planted.tokenizer, planted_corpus_texts(80))
    values = neuron_activations(planted.model, batch, [planted.month.neuron])[planted.month.neuron]
    return planted, batch, values


def test_month_tokens_come_first(run):
    planted, batch, values = run
    examples = top_examples(values, batch, planted.tokenizer, k=10)
    assert len(examples) == 10
    rows = [e.row for e in examples]
    assert len(set(rows)) == len(rows)  # one per row
    for e in examples:
        assert e.token in MONTHS
        assert e.activation > 1.0
        assert e.values[e.focus] == pytest.approx(e.activation)
        assert batch.tokens[e.row, e.position] == planted.token_id(e.token)
        assert len(e.str_tokens) == len(e.values) <= 12 + 1 + 3
    activations = [e.activation for e in examples]
    assert activations == sorted(activations, reverse=True)


def test_context_window_bounds(run):
    planted, batch, values = run
    (e,) = top_examples(values, batch, planted.tokenizer, k=1, context_before=2, context_after=1)
    assert e.focus <= 2 and len(e.str_tokens) - e.focus - 1 <= 1
    assert "<bos>" not in e.str_tokens and "<pad>" not in e.str_tokens


def test_many_per_row_and_masking(run):
    planted, batch, values = run
    # Poison BOS and padding: a mask-aware ranking must never pick them.
    poisoned = values.clone().masked_fill(~batch.mask, 1e6)
    examples = top_examples(poisoned, batch, planted.tokenizer, k=40, one_per_row=False)
    assert all(e.activation < 1e6 and e.token in MONTHS for e in examples)
    assert len({e.row for e in examples}) < len(examples)  # some rows give several months


def test_random_examples_are_seeded_and_masked(run):
    planted, batch, values = run
    a = random_examples(values, batch, planted.tokenizer, k=15, seed=3)
    b = random_examples(values, batch, planted.tokenizer, k=15, seed=3)
    c = random_examples(values, batch, planted.tokenizer, k=15, seed=4)
    assert [(e.row, e.position) for e in a] == [(e.row, e.position) for e in b]
    assert [(e.row, e.position) for e in a] != [(e.row, e.position) for e in c]
    assert all(batch.mask[e.row, e.position] for e in a)
    assert len({(e.row, e.position) for e in a}) == 15
    # Most corpus tokens are not months: an unbiased sample is mostly silent.
    assert sum(e.token not in MONTHS for e in a) > 7


def test_shape_mismatch_is_explained(run):
    planted, batch, values = run
    with pytest.raises(ValueError, match="activations computed on this batch"):
        top_examples(values[:, :-1], batch, planted.tokenizer)
