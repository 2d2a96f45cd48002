"""NeurontestSession's process-wide side effects are scoped to the session."""

from __future__ import annotations

import gc

import pytest

pytest.importorskip("torch")

from neurontest.plugin.session import LabKey, NeurontestSession  # noqa: E402


def test_model_load_freezes_gc_until_close():
    gc.unfreeze()
    session = NeurontestSession()
    key = LabKey("planted", None, "planted", 2000, 32, 0)
    lab = session.lab(key)
    assert session.lab(key) is lab  # one load per key
    assert session.froze_gc and gc.get_freeze_count() > 0
    session.close()
    assert not session.froze_gc and gc.get_freeze_count() == 0
    session.close()  # idempotent
