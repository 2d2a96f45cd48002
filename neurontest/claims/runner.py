"""The one way a claim runs: prepare what it reads, reuse a remembered result, run, note tau.

    runner = ClaimRunner(Lab.load())                 # a notebook
    result = runner.run(claim)

The YAML items, the `unit` fixture and the matched-unit path of the pytest plugin all call
`ClaimRunner.run`, so each of them gets the same result memory, tau and settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.engine.progress import timed_step

if TYPE_CHECKING:
    from neurontest.claims.base import Claim, ClaimResult
    from neurontest.lab import Lab


class RemembersResults(Protocol):
    """Where claim results of earlier runs are kept (the pytest layer's `ResultCache`)."""

    def key_for(self, claim: Claim, identity: dict[str, Any], device: str,
                settings: RunSettings) -> str | None: ...
    def result(self, key: str) -> ClaimResult | None: ...
    def store_result(self, key: str, result: ClaimResult) -> None: ...


class ClaimRunner:
    """Runs claims on one lab with one set of run-wide settings, remembering results in
    `results` (None: always compute)."""

    def __init__(self, lab: Lab, results: RemembersResults | None = None,
                 settings: RunSettings = DEFAULT_SETTINGS) -> None:
        self.lab = lab
        self.results = results
        self.settings = settings

    def run(self, claim: Claim) -> ClaimResult:
        """The claim's result: remembered when nothing it depends on changed, else computed
        after mining what it reads (one pass with whatever else the lab was asked to mine)."""
        key = self._result_key(claim)
        if key is not None and (cached := self.results.result(key)) is not None:  # type: ignore[union-attr]
            return cached
        self.lab.prepare(claim.neurons_to_mine())
        with timed_step("claims", claim.kind):  # its own time, apart from mining it triggers
            result = claim.run(self.lab, self.settings)
        if result.tau is None:
            result.tau = self._known_tau(claim)
        if key is not None:
            self.results.store_result(key, result)  # type: ignore[union-attr]
        return result

    def remembered(self, claim: Claim) -> ClaimResult | None:
        """The claim's result from an earlier run, if one is remembered; runs nothing."""
        key = self._result_key(claim)
        return None if key is None else self.results.result(key)  # type: ignore[union-attr]

    def check(self, claim: Claim) -> None:
        """Collection-time checks of the claim against this lab's model (ValueError: the fix)."""
        self.lab.check_unit(claim.neuron)
        claim.check(self.lab)

    def _known_tau(self, claim: Claim) -> float | None:
        """The claim's tau when it costs nothing more (absolute, or its unit already mined):
        the report marks it on the colour scale. None where it would need new mining."""
        try:
            threshold = claim.threshold()
            if threshold.relative and self.lab.mined(claim.neuron) is None:
                return None
            return float(self.lab.tau(claim.neuron, threshold))
        except Exception:  # noqa: BLE001 - a claim kind without a threshold; the mark is optional
            return None

    def _result_key(self, claim: Claim) -> str | None:
        if self.results is None:
            return None
        return self.results.key_for(claim, self.lab.identity(), self.lab.device, self.settings)
