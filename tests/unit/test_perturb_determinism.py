"""A seeded perturbation claim draws the same texts whatever else the process has imported."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from neurontest.perturb.search import global_constants_only


def _draws(guarded: bool) -> list[str]:
    from contextlib import nullcontext

    from hypothesis import given, seed, settings
    from hypothesis import strategies as st

    out: list[str] = []

    @settings(max_examples=300, database=None, deadline=None)
    @given(st.text(max_size=4))
    def collect(text: str) -> None:
        out.append(text)

    with global_constants_only() if guarded else nullcontext():
        seed(1234)(collect)()
    return out


def test_local_module_literals_do_not_change_seeded_draws(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    before = _draws(guarded=True)
    # A "local" module (outside site-packages) full of short string literals: Hypothesis would
    # mix these into the strings it draws.
    # Many of them: the pool Hypothesis samples from also holds every other local module's
    # literals (neurontest's own, when installed editable), so a few would rarely be drawn.
    literals = [f"\u03a9{chr(0x3b1 + i // 16)}{chr(0x3b1 + i % 16)}" for i in range(400)]
    (tmp_path / "nt_local_literals.py").write_text(f"WORDS = {literals!r}\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("nt_local_literals")
    try:
        assert _draws(guarded=True) == before
        # The control: without the guard the same seed draws the module's literals.
        assert set(_draws(guarded=False)) & set(literals)
    finally:
        import sys

        sys.modules.pop("nt_local_literals", None)
