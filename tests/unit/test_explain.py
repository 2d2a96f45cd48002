"""The explanation search (neurontest.claims.explain) on the planted model, whose neurons are known."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from neurontest.claims.explain import (  # noqa: E402
    GENERATORS,
    MIN_F1,
    Candidate,
    explain,
    explain_neuron,
    greedy_groups,
    token_sets,
)
from neurontest.claims.predicates import Context, TokenSet, predicate_from_dict  # noqa: E402
from neurontest.engine.data.corpus import TextCorpus  # noqa: E402
from neurontest.engine.models.planted import MONTHS, planted_corpus_texts, planted_model  # noqa: E402
from neurontest.lab import CorpusOptions, Lab  # noqa: E402


@pytest.fixture(scope="module")
def planted():
    return planted_model()


@pytest.fixture(scope="module")
def lab(planted) -> Lab:
    sample = TextCorpus.from_texts("planted-corpus", planted_corpus_texts(400)).tokenize(
        planted.tokenizer, window=32, n_tokens=None)
    return Lab(planted.model, CorpusOptions(None, 32, None, 0), cache=False, progress=False,
               sample=sample)


def test_greedy_groups_include_and_exclude() -> None:
    # Positions 0..9, one group each; the neuron fires on the positions of groups 1 and 2 only.
    group = torch.tensor([0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    fires = torch.tensor([0, 1, 1, 1, 1, 1, 1, 0, 0, 0], dtype=torch.bool)
    position = torch.arange(10)
    assert sorted(greedy_groups(position, group, fires, 6)) == [1, 2]
    assert sorted(greedy_groups(position, group, fires, 6, exclude=True)) == [3]  # group 0: 1 silent
    assert greedy_groups(position, group, fires, 6, min_support=4) == []
    allowed = torch.tensor([True, True, False, True])
    assert greedy_groups(position, group, fires, 6, allowed=allowed) == [1]


def test_month_neuron_gets_the_month_tokens(lab, planted) -> None:
    explanation = explain_neuron(lab, planted.month.neuron)
    assert explanation.explained and explanation.scores["f1"] == 1.0
    months = lab.claimed(TokenSet(tuple(MONTHS)))
    assert torch.equal(lab.claimed(explanation.predicate), months)  # the month tokens, however said
    only_sets = explain_neuron(lab, planted.month.neuron, generators=[token_sets])
    assert set(only_sets.fires_on["tokens"]) == set(MONTHS) and only_sets.scores["f1"] == 1.0


def test_context_neuron_gets_preceded_by_not(lab, planted) -> None:
    explanation = explain_neuron(lab, planted.context.neuron)
    predicate = explanation.predicate
    assert isinstance(predicate, Context) and not predicate.negate
    assert explanation.fires_on["tokens"] == ["good"] and "not" in explanation.fires_on["preceded_by"]["tokens"]
    assert explanation.explained and explanation.scores["f1"] > 0.9


@pytest.mark.parametrize("noise", ["gaussian", "uniform"])
def test_noise_has_no_simple_explanation(lab, noise: str) -> None:
    generator = torch.Generator().manual_seed(0)
    shape = lab.sample.batch.tokens.shape
    values = (torch.randn(shape, generator=generator) if noise == "gaussian"
              else torch.rand(shape, generator=generator))
    explanation = explain(values, lab.sample.batch, lab.vocab)
    assert not explanation.explained
    assert explanation.candidate is None or explanation.scores["f1"] < MIN_F1
    assert "f1" in explanation.describe() or "no candidate" in explanation.describe()


def test_fires_on_reads_back_as_the_same_predicate(lab, planted) -> None:
    for neuron in (planted.month.neuron, planted.digit.neuron, planted.context.neuron):
        explanation = explain_neuron(lab, neuron)
        for _, scored in explanation.ranked:
            written = predicate_from_dict(scored.candidate.fires_on)
            assert torch.equal(lab.claimed(written), lab.claimed(scored.candidate.predicate)), \
                scored.candidate.fires_on


def test_generators_are_pluggable(lab, planted) -> None:
    def just_good(problem, found):
        yield Candidate(TokenSet(("good",)), {"tokens": ["good"]})

    explanation = explain_neuron(lab, planted.context.neuron, generators=[just_good])
    assert explanation.fires_on == {"tokens": ["good"]}
    assert explanation.scores["f1"] < explain_neuron(lab, planted.context.neuron).scores["f1"]
    assert just_good not in GENERATORS
