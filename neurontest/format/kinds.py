"""Claim kinds by their YAML name: every kind the hypothesis format knows.

Kinds are plugins: each is named in the `neurontest.claim_kinds` entry-point group, the built-in
ones in neurontest's own pyproject.toml exactly as a third-party package names its own:

    [project.entry-points."neurontest.claim_kinds"]
    mean_activation = "my_package.claims:MeanActivationClaim"

A kind's module is imported only when a file uses it (or the schema lists every kind), so
reading the names costs nothing. The built-in kinds are also listed here (`BUILTIN_KINDS`), so a
checkout whose installed metadata is older than its code (an editable install of another
worktree, a kind added since `pip install -e .`) still knows its own kinds; entry points add
third-party kinds, and one naming a built-in kind differently is a clash.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from neurontest.errors import NeurontestError

if TYPE_CHECKING:
    from neurontest.claims.base import Claim

ENTRY_POINT_GROUP = "neurontest.claim_kinds"

#: neurontest's own kinds (the same table as its pyproject.toml entry points)
BUILTIN_KINDS = {
    "activation": "neurontest.claims.activation:ActivationClaim",
    "examples": "neurontest.claims.examples:ExamplesClaim",
    "top_examples": "neurontest.claims.top_examples:TopExamplesClaim",
    "ablation": "neurontest.claims.ablation:AblationClaim",
    "noise": "neurontest.claims.noise:NoiseClaim",
    "simplify": "neurontest.claims.simplify:SimplifyClaim",
    "logit_attribution": "neurontest.claims.logit_attribution:LogitAttributionClaim",
    "invariant": "neurontest.perturb.invariant:InvariantClaim",
    "necessary": "neurontest.perturb.necessary:NecessaryClaim",
    "sufficient": "neurontest.perturb.sufficient:SufficientClaim",
    "adversarial": "neurontest.perturb.adversarial:AdversarialClaim",
    "attends": "neurontest.claims.attends:AttendsClaim",
    "patching": "neurontest.claims.patching:PatchingClaim",
    "mediation": "neurontest.claims.mediation:MediationClaim",
}


class ClaimKinds(Mapping[str, "type[Claim]"]):
    """YAML name -> claim class, loading each class on first use."""

    def __init__(self) -> None:
        self._targets: dict[str, str] | None = None
        self._loaded: dict[str, type[Claim]] = {}

    def targets(self) -> dict[str, str]:
        """YAML name -> "module:Class" of every installed kind (imports nothing)."""
        if self._targets is None:
            from importlib.metadata import entry_points

            targets: dict[str, str] = dict(BUILTIN_KINDS)
            for point in entry_points(group=ENTRY_POINT_GROUP):
                if targets.get(point.name, point.value) != point.value:
                    raise NeurontestError(f"claim kind {point.name!r} of {point.value} clashes "
                                          f"with {targets[point.name]}; rename one of them")
                targets[point.name] = point.value
            self._targets = dict(sorted(targets.items()))  # one order, whatever installed them
        return self._targets

    def refresh(self) -> None:
        """Look for installed kinds again (a package installed after the first look)."""
        self._targets = None

    def __getitem__(self, kind: str) -> type[Claim]:
        if kind not in self._loaded:
            module, _, name = self.targets()[kind].partition(":")
            cls = getattr(importlib.import_module(module), name)
            if getattr(cls, "kind", None) != kind:
                raise ValueError(f"claim kind {kind!r} names {module}:{name}, whose `kind` is "
                                 f"{getattr(cls, 'kind', None)!r}; make them the same")
            self._loaded[kind] = cls
        return self._loaded[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self.targets())

    def __len__(self) -> int:
        return len(self.targets())

    def __contains__(self, kind: object) -> bool:
        return kind in self.targets()


CLAIM_KINDS = ClaimKinds()


def register_claim(cls: type[Claim]) -> type[Claim]:
    """Register a claim kind from Python (a notebook, a test) under `cls.kind`; raises on a
    name already taken. Packages use the entry-point group instead."""
    targets = CLAIM_KINDS.targets()
    if cls.kind in targets:
        raise ValueError(f"claim kind {cls.kind!r} is already registered")
    targets[cls.kind] = f"{cls.__module__}:{cls.__qualname__}"
    CLAIM_KINDS._loaded[cls.kind] = cls
    return cls


def get_claim_class(kind: str) -> type[Claim]:
    """The class of a claim kind, or ValueError naming the closest known kind."""
    if kind not in CLAIM_KINDS:
        close = difflib.get_close_matches(kind, list(CLAIM_KINDS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known kinds: {', '.join(CLAIM_KINDS)}"
        raise ValueError(f"unknown claim kind {kind!r}; {hint}")
    return CLAIM_KINDS[kind]
