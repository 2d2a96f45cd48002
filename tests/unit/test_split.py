"""`split: explore|confirm|all` (issue 23, part 3): the sampled windows divided by document,
stably by a hash of its text, into two halves that share no document."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from neurontest.engine.data.corpus import TextCorpus, document_half  # noqa: E402
from neurontest.engine.models.planted import planted_corpus_texts, planted_model  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    return planted_model().tokenizer


def test_halves_partition_the_sampled_windows_by_document(tokenizer, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path))  # no stored sample answers
    corpus = TextCorpus.from_texts("planted", planted_corpus_texts())
    whole = corpus.tokenize(tokenizer, window=16, n_tokens=1500)
    explore = corpus.tokenize(tokenizer, window=16, n_tokens=1500, split="explore")
    confirm = corpus.tokenize(tokenizer, window=16, n_tokens=1500, split="confirm")
    assert set(explore.documents).isdisjoint(confirm.documents)
    assert sorted(explore.documents + confirm.documents) == sorted(whole.documents)
    assert len(explore) + len(confirm) == len(whole) and len(explore) > 0 and len(confirm) > 0
    assert all(document_half(corpus.texts[d]) == "explore" for d in explore.documents)
    # Every cache keyed by the sample's fingerprint tells the three apart.
    assert len({whole.fingerprint, explore.fingerprint, confirm.fingerprint}) == 3
    # A document keeps its half whatever else the corpus holds (the hash is of its own text).
    shuffled = TextCorpus.from_texts("planted", list(reversed(corpus.texts)) + ["a new document ."])
    again = shuffled.tokenize(tokenizer, window=16, n_tokens=None, split="explore")
    assert {shuffled.texts[d] for d in again.documents} >= {corpus.texts[d] for d in explore.documents}
    with pytest.raises(ValueError, match="use one of all, explore, confirm"):
        corpus.tokenize(tokenizer, split="half")


def test_split_all_keeps_the_fingerprint_of_unsplit_samples(tokenizer, tmp_path, monkeypatch) -> None:
    # `all` is today's behaviour: activation caches and remembered results stay valid.
    import hashlib
    import json

    from neurontest.engine.data.tokens import tokenizer_identity

    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path))
    corpus = TextCorpus.from_texts("planted", planted_corpus_texts(40))
    sample = corpus.tokenize(tokenizer, window=16, n_tokens=None)
    before = hashlib.sha256(json.dumps(  # the formula before splits existed
        [corpus.fingerprint, tokenizer_identity(tokenizer), 16, None, 0, True],
        ensure_ascii=False).encode()).hexdigest()[:16]
    assert sample.fingerprint == before


def test_the_lab_and_its_identity_carry_the_split() -> None:
    from neurontest.lab import CorpusOptions, Lab
    from neurontest.plugin.result_cache import lab_stamp

    lab = Lab(planted_model().model, CorpusOptions("planted", 16, None, 0, "confirm"), cache=False,
              progress=False)
    assert lab.describe()["corpus"]["split"] == "confirm"
    stamps = {lab_stamp("planted", None, CorpusOptions("planted", 16, None, 0, split), "cpu")
              for split in ("all", "explore", "confirm")}
    assert len(stamps) == 3 or stamps == {None}


def test_inspect_drafts_on_explore_and_the_draft_tests_on_confirm() -> None:
    import yaml

    from neurontest.inspection import inspect_neuron
    from neurontest.lab import CorpusOptions, Lab

    lab = Lab(planted_model().model, CorpusOptions("planted", 16, None, 0, "explore"), cache=False,
              progress=False)
    draft = inspect_neuron(lab, "L0N3", k=3).draft_yaml()
    assert yaml.safe_load(draft)["split"] == "confirm"
    assert "drafted on the corpus's explore half and is tested on the confirm half" in draft
