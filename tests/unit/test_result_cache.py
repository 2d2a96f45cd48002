"""The result cache's keys and entries, the stamps they rest on, and deferred labs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from neurontest.claims.settings import RunSettings
from neurontest.format.kinds import get_claim_class
from neurontest.claims.base import (Bound, ClaimResult, Evidence, Measurement, Subject, Threshold,
                                    TokenRow)
from neurontest.lab import CorpusOptions, Lab
from neurontest.engine.units.neuron import NeuronRef
from neurontest.claims.predicates import TokenSet
from neurontest.engine.provenance import code_version, corpus_stamp, folder_stamp, model_stamp
from neurontest.plugin.result_cache import ResultCache, claim_key, lab_stamp

IDENTITY = {"model": {"name": "m", "fingerprint": "f" * 16, "n_layers": 2, "d_mlp": 8},
            "corpus": {"name": "c", "fingerprint": "c" * 16, "window": 16, "rows": 3,
                       "scorable_tokens": 40}}
SUBJECT = Subject(NeuronRef(1, 3), TokenSet(("March",)), Threshold(1.0))


DEFAULT = RunSettings()


def claim(kind: str = "activation", subject: Subject = SUBJECT, **options):
    return get_claim_class(kind)(subject, options or {"f1": ">= 0.7"})


def result() -> ClaimResult:
    rows = [TokenRow(["we", " met", " in", " March"], [0.0, 0.1, -0.2, 3.5], [3], "fires")]
    return ClaimResult("activation", NeuronRef(1, 3), [Measurement("f1", 0.8, Bound(">=", 0.7))],
                       "summary", [Evidence("examples", rows, [("March", 3.5)])], ["extra"])


def test_results_round_trip_with_their_evidence(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    cache.store_result("k1", result())
    loaded = cache.result("k1")
    assert loaded is not None and loaded.cached and cache.hits == 1
    assert loaded.measurements == result().measurements and loaded.evidence == result().evidence
    assert loaded.extra_failures == ["extra"] and not loaded.passed
    assert cache.result("absent") is None


@pytest.mark.parametrize("content", ["{not json", '{"format": 999, "value": {}}', '{"format": 1, "value": {"kind": 1}}'])
def test_unreadable_or_foreign_entries_are_recomputed_not_trusted(tmp_path: Path, content: str) -> None:
    cache = ResultCache(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "claim-k.json").write_text(content)
    assert cache.result("k") is None


def test_lab_identity_needs_both_fingerprints(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    cache.store_lab_identity("s", IDENTITY)
    assert cache.lab_identity("s") == IDENTITY
    cache.store_lab_identity("t", {"model": IDENTITY["model"], "corpus": {"fingerprint": None}})
    assert cache.lab_identity("t") is None


def test_claim_key_changes_with_everything_a_result_depends_on() -> None:
    base = claim_key(claim(), IDENTITY, "cpu", DEFAULT)
    assert base == claim_key(claim(), IDENTITY, "cpu", DEFAULT)
    other_model = {"model": dict(IDENTITY["model"], fingerprint="0" * 16), "corpus": IDENTITY["corpus"]}
    other_corpus = {"model": IDENTITY["model"], "corpus": dict(IDENTITY["corpus"], fingerprint="1" * 16)}
    variants = [
        claim(f1=">= 0.8"),  # an option
        claim(subject=Subject(NeuronRef(1, 4), SUBJECT.predicate, SUBJECT.threshold)),  # the neuron
        claim(subject=Subject(SUBJECT.neuron, TokenSet(("May",)), SUBJECT.threshold)),  # the predicate
        claim(subject=Subject(SUBJECT.neuron, SUBJECT.predicate, Threshold(2.0))),  # tau
        claim("examples", fires=["in [[March]]"]),  # the kind
    ]
    keys = {claim_key(c, IDENTITY, "cpu", DEFAULT) for c in variants}
    keys |= {claim_key(claim(), other_model, "cpu", DEFAULT), claim_key(claim(), other_corpus, "cpu", DEFAULT),
             claim_key(claim(), IDENTITY, "cuda", DEFAULT)}
    assert base not in keys and len(keys) == len(variants) + 3


def test_random_perturbation_claims_are_never_remembered() -> None:
    texts = ["we met in [[March]]"]
    assert claim_key(claim("invariant", texts=texts), IDENTITY, "cpu", DEFAULT) is None
    seeded = claim_key(claim("invariant", texts=texts, seed=1), IDENTITY, "cpu", DEFAULT)
    assert seeded is not None
    ci = RunSettings(hypothesis_profile="ci", max_examples=10)  # derandomized: the claim's own seed
    assert claim_key(claim("invariant", texts=texts), IDENTITY, "cpu", ci) is not None
    assert claim_key(claim("invariant", texts=texts, seed=1), IDENTITY, "cpu", ci) != seeded


def test_folder_stamp_follows_file_changes(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"1234")
    first = folder_stamp(tmp_path)
    assert first == folder_stamp(tmp_path) and first is not None
    (tmp_path / "model.safetensors").write_bytes(b"12345")
    assert folder_stamp(tmp_path) != first
    stat = (tmp_path / "config.json").stat()
    second = folder_stamp(tmp_path)
    os.utime(tmp_path / "config.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert folder_stamp(tmp_path) != second
    assert folder_stamp(tmp_path / "missing") is None


def test_only_local_sources_are_stamped(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert model_stamp("EleutherAI/pythia-70m", None) is None  # the hub copy may have moved
    assert model_stamp(str(tmp_path), None) != model_stamp(str(tmp_path), "step1")
    assert model_stamp("planted", None) == "planted"
    corpus = tmp_path / "texts.txt"
    corpus.write_text("one\n\ntwo\n")
    assert corpus_stamp(str(corpus)) is not None and corpus_stamp("owner/dataset") is None
    assert lab_stamp("EleutherAI/pythia-70m", None, CorpusOptions(), "cpu") is None
    assert lab_stamp("planted", None, CorpusOptions("planted"), "cpu") != lab_stamp(
        "planted", None, CorpusOptions("planted", window=8), "cpu")
    assert len(code_version()) == 16


def test_deferred_lab_answers_from_its_identity_until_the_model_is_needed() -> None:
    loads = []

    def load():
        loads.append(1)
        raise RuntimeError("model loaded")

    lab = Lab.deferred(load, IDENTITY, CorpusOptions("c", 16))
    assert lab.describe() == IDENTITY and lab.model_key == "f" * 16
    lab.check_unit(NeuronRef(1, 7))
    with pytest.raises(ValueError, match="out of range|d_mlp|has"):
        lab.check_unit(NeuronRef(1, 8))
    assert not lab.model_loaded and loads == []
    with pytest.raises(RuntimeError, match="model loaded"):
        _ = lab.model
    assert loads == [1]
