"""Fixtures the unit tests share: the planted model and a lab on its corpus (one per module, as
a lab keeps mined activations; a module that needs another corpus defines its own `lab`)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def planted():
    from neurontest.engine.models.planted import planted_model

    return planted_model()


@pytest.fixture(scope="module")
def lab(planted):
    from neurontest.engine.data.corpus import TextCorpus
    from neurontest.engine.models.planted import planted_corpus_texts
    from neurontest.lab import CorpusOptions, Lab

    sample = TextCorpus.from_texts("planted-corpus", planted_corpus_texts(120)).tokenize(
        planted.tokenizer, window=32, n_tokens=None)
    return Lab(planted.model, CorpusOptions(None, 32, None, 0), cache=False, progress=False,
               sample=sample)
