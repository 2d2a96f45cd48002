"""Cheap stamps of what a result depends on: the code, the model's files, the corpus's files.

A warm run uses them to find what an earlier run measured (neurontest.plugin.result_cache) without
importing torch or loading the model. Each stamp is made from file names, sizes and modification
times, as make and pytest's own caches do, and costs milliseconds. Where a source cannot be
stamped without loading it (a hub model or data set, whose remote copy may have moved), the stamp
is None and the run loads it as before.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

from neurontest.engine.data import corpus
from neurontest.engine.models.loading import DEFAULT_MODEL, EMBEDDED_MODELS, PLANTED_MODEL, converted_folder

# Libraries whose versions can change a measured number.
_LIBRARIES = ("torch", "transformers", "transformer-lens", "tokenizers", "hypothesis", "numpy")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of neurontest's own source and the versions of the libraries it computes with."""
    digest = hashlib.sha256()
    package = Path(__file__).parents[1]  # the whole neurontest package, not just engine/
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    for name in _LIBRARIES:
        try:
            digest.update(f"{name}={metadata.version(name)};".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name}=-;".encode())
    return digest.hexdigest()[:16]


def files_stamp(paths: list[Path]) -> str | None:
    """Names, sizes and modification times of files; None if one of them is missing."""
    entries = []
    for path in sorted(paths):
        try:
            stat = path.stat()
        except OSError:
            return None
        entries.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return hash_json(entries)


def folder_stamp(folder: Path) -> str | None:
    """The stamp of every file directly inside `folder` (an HF model folder is flat)."""
    try:
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    except OSError:
        return None
    return files_stamp(files) if files else None


def model_stamp(name: str | None, revision: str | None) -> str | None:
    """Where the model named as `--neurontest-model` would load from, or None for hub models."""
    name = str(name) if name is not None else DEFAULT_MODEL
    if name == PLANTED_MODEL:
        return "planted"  # built by neurontest's own code, which code_version() covers
    if name in EMBEDDED_MODELS:
        folder = converted_folder()
        return folder_stamp(folder) if (folder / ".complete").exists() else None
    path = Path(name).expanduser()
    if path.is_dir():
        stamp = folder_stamp(path)
        return None if stamp is None else hash_json([stamp, revision])
    return None


def corpus_stamp(spec: str | None) -> str | None:
    """Where the corpus named as `--neurontest-corpus` would load from, or None for hub data."""
    if spec is None or spec in (corpus.WIKI_SAMPLE, corpus.LEE):
        try:
            return files_stamp([corpus.embedded_corpus_file(spec or corpus.WIKI_SAMPLE)])
        except corpus.CorpusUnavailableError:
            return None
    if spec == corpus.PLANTED:
        return "planted"
    if corpus.is_local(spec):
        path = Path(spec).expanduser()
        if path.is_dir():
            return files_stamp(sorted(path.glob("*.txt")))
        return files_stamp([path])
    return None


def hash_json(value: Any) -> str:
    """A short sha256 of a JSON-able value (keys sorted, so dict order never matters)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]

