"""Cache entries are checked against their typed records before they are trusted: a bad one is
dropped with a warning and recomputed (result cache, activation cache, prepared corpus)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neurontest.claims.base import Bound, ClaimResult, Evidence, Measurement, TokenRow, result_to_dict
from neurontest.engine.store.files import CacheWarning
from neurontest.engine.units.neuron import NeuronRef
from neurontest.plugin.result_cache import ResultCache


def _result_entry() -> dict:
    rows = [TokenRow(["we", " met", " in", " March"], [0.0, 0.1, -0.2, 3.5], [3], "fires")]
    result = ClaimResult("activation", NeuronRef(1, 3), [Measurement("f1", 0.8, Bound(">=", 0.7))],
                         "summary", [Evidence("examples", rows, [("March", 3.5)])])
    return result_to_dict(result) | {"cached": False}


def _store(tmp_path: Path, value: object) -> ResultCache:
    cache = ResultCache(tmp_path)
    cache.folder.mkdir(parents=True, exist_ok=True)
    (cache.folder / "claim-k.json").write_text(json.dumps({"format": 1, "value": value}))
    return cache


def _set(entry: dict, path: tuple, value: object) -> dict:
    target = entry
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return entry


@pytest.mark.parametrize("path, value, reason", [
    (("measurements", 0, "value"), "0.8", "result.measurements[0].value is '0.8', not a number"),
    (("measurements", 0, "value"), True, "not a number"),
    (("measurements", 0, "bound", "op"), "~", "not one of"),
    (("neuron", "layer"), 1.5, "result.neuron.layer is 1.5, not an int"),
    (("evidence", 0, "rows", 0, "values", 1), None, "result.evidence[0].rows[0].values[1]"),
    (("evidence", 0, "table", 0), ["March"], "not a pair"),
    (("measurements", 0, "interval"), [0.1], "not a pair"),
    (("summary",), ["a"], "result.summary is ['a'], not a str"),
])
def test_a_result_entry_that_departs_from_its_record_is_dropped(
        tmp_path: Path, path: tuple, value: object, reason: str) -> None:
    cache = _store(tmp_path, _set(_result_entry(), path, value))
    with pytest.warns(CacheWarning, match="dropped the corrupt cache entry") as caught:
        assert cache.result("k") is None
    assert reason in str(caught[0].message)
    assert not (cache.folder / "claim-k.json").exists() and cache.hits == 0


def test_a_result_entry_with_fields_of_newer_code_still_reads(tmp_path: Path) -> None:
    entry = _result_entry()
    entry["measurements"][0] |= {"interval": [0.7, 0.9], "level": 0.95, "confident": False,
                                 "detail": "3 of 4"}
    entry["inconclusive"] = ""
    cache = _store(tmp_path, entry)
    result = cache.result("k")
    assert result is not None and result.cached and result.metrics() == {"f1": 0.8}


def test_token_rows_read_with_and_without_hover_pieces(tmp_path: Path) -> None:
    # Rows stored before `pieces` existed have none; rows with merged byte pieces keep theirs.
    entry = _result_entry()
    assert entry["evidence"][0]["rows"][0].pop("pieces") == []
    result = _store(tmp_path, entry).result("k")
    assert result is not None and result.evidence[0].rows[0].pieces == []
    pieces = ["", "", "<0xE6><0x9C>", "<0x88>"]
    entry["evidence"][0]["rows"][0]["pieces"] = pieces
    result = _store(tmp_path, entry).result("k")
    assert result is not None and result.evidence[0].rows[0].pieces == pieces


@pytest.mark.parametrize("path, value", [
    (("evidence", 0, "rows", 0, "pieces"), "<0x88>"),
    (("evidence", 0, "rows", 0, "pieces", 0), 7),
])
def test_malformed_hover_pieces_are_dropped(tmp_path: Path, path: tuple, value: object) -> None:
    entry = _result_entry()
    entry["evidence"][0]["rows"][0]["pieces"] = ["", "", "", ""]
    cache = _store(tmp_path, _set(entry, path, value))
    with pytest.warns(CacheWarning, match="pieces"):
        assert cache.result("k") is None


def test_a_missing_field_or_a_foreign_envelope_is_dropped(tmp_path: Path) -> None:
    entry = _result_entry()
    del entry["evidence"]
    cache = _store(tmp_path, entry)
    with pytest.warns(CacheWarning, match="has no 'evidence'"):
        assert cache.result("k") is None
    (cache.folder / "claim-j.json").write_text('{"value": {}}')  # (one warning per entry)
    with pytest.warns(CacheWarning, match="not a {format: 1"):
        assert cache.result("j") is None


def test_activation_entries_are_checked_for_shape_dtype_and_checksum(tmp_path: Path) -> None:
    import torch

    from neurontest.engine.run.activation_cache import ActivationCache

    cache = ActivationCache("m", "c", root=tmp_path)
    neuron, values = NeuronRef(0, 3), torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert cache.store(neuron, values)
    assert torch.equal(cache.load(neuron, (3, 4)), values)
    with pytest.warns(CacheWarning, match=r"shape \(3, 4\), the corpus has \(4, 3\)"):
        assert cache.load(neuron, (4, 3)) is None
    for index, tamper, reason in [
            (4, lambda e: e | {"values": e["values"].double()}, "dtype torch.float64"),
            (5, lambda e: e | {"values": e["values"] + 1}, "checksum mismatch")]:
        neuron = NeuronRef(0, index)  # a fresh entry: each is warned about once per process
        cache.store(neuron, values)
        entry = torch.load(cache.path(neuron), weights_only=True)
        torch.save(tamper(entry), cache.path(neuron))
        with pytest.warns(CacheWarning, match=reason):
            assert cache.load(neuron, (3, 4)) is None
        assert not cache.path(neuron).exists()


def test_a_tokenized_sample_is_checked_against_its_checksum(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from neurontest.engine.data import prep_cache
    from neurontest.engine.data.tokens import TokenBatch

    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path))
    batch = TokenBatch(torch.tensor([[1, 5, 6], [1, 7, 0]]), torch.tensor([[False, True, True],
                                                                          [False, True, False]]))
    prep_cache.store_sample("fp", batch, [0, 1])
    loaded, documents = prep_cache.load_sample("fp")
    assert torch.equal(loaded.tokens, batch.tokens) and documents == [0, 1]
    path = tmp_path / "prep" / "sample-fp.pt"
    entry = torch.load(path, weights_only=True)
    entry["tokens"][1, 1] = 9
    torch.save(entry, path)
    with pytest.warns(CacheWarning, match="checksum mismatch"):
        assert prep_cache.load_sample("fp") is None
    assert not path.exists()
