"""Claim kinds by their YAML name. Built-ins register below the same way a plugin would."""

from __future__ import annotations

import difflib

from neurontest.claims.base import Claim

CLAIM_KINDS: dict[str, type[Claim]] = {}


def register_claim(cls: type[Claim]) -> type[Claim]:
    """Register a claim kind under `cls.kind` (raises on a duplicate name)."""
    if cls.kind in CLAIM_KINDS:
        raise ValueError(f"claim kind {cls.kind!r} is already registered")
    CLAIM_KINDS[cls.kind] = cls
    return cls


def get_claim_class(kind: str) -> type[Claim]:
    """The class of a claim kind, or ValueError naming the closest known kind."""
    if kind not in CLAIM_KINDS:
        close = difflib.get_close_matches(kind, list(CLAIM_KINDS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known kinds: {', '.join(CLAIM_KINDS)}"
        raise ValueError(f"unknown claim kind {kind!r}; {hint}")
    return CLAIM_KINDS[kind]
