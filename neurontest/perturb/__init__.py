"""Perturbations that try to break claims: Hypothesis strategies, property claims, adversarial search.

    from hypothesis import given
    from neurontest.perturb import context_edits, perturbed, token_texts

    @given(perturbed(token_texts(["we met in [[March]]"]), context_edits([" the", " park"])))
    def test_month(t): ...

Claim kinds (registered in `neurontest.format.kinds`): `invariant`, `necessary`, `sufficient`
(modules of the same name here) and `adversarial`. Their Hypothesis profile and example budget
come with the run's `neurontest.claims.settings.RunSettings`. Names are loaded lazily, so
importing this package imports no Hypothesis.

May import: `neurontest.claims`, `neurontest.lab`, `neurontest.measure`, `neurontest.engine`,
`neurontest.errors`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "neurontest.perturb.text": [
        "TokenText", "Edit", "DeleteToken", "InsertToken", "ReplaceToken", "ChangeCase",
        "ChangeSpacing", "SwapTrigger", "ReplaceTrigger", "InsertTrigger", "apply_edits",
    ],
    "neurontest.perturb.strategies": [
        "WordPool", "pool", "delete_token", "insert_token", "replace_token", "change_case",
        "change_spacing", "context_edits", "swap_trigger", "replace_trigger", "token_texts",
        "perturbed", "random_contexts", "with_member_inserted", "filled_templates",
        "template_texts",
    ],
    "neurontest.perturb.templates": ["template_slots"],
    "neurontest.perturb.search": ["PropertyOutcome", "check_property"],
    "neurontest.perturb.substitute": ["substitution_search"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'neurontest.perturb' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)


def __dir__() -> list[str]:
    return __all__
