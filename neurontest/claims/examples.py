"""`examples`: hand-written texts where the neuron must fire at [[marked]] tokens, or stay silent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from neurontest.claims.base import Claim, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.claims.marked import mark_positions
from neurontest.claims.options import BoundText, ClaimOptions, Texts
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.measure.readout import activations_on_texts

if TYPE_CHECKING:
    from neurontest.lab import Lab


class ExamplesClaim(Claim):
    """In every `fires` text the marked tokens exceed tau; in every `silent` text no token does
    (or, if a silent text has marks, the marked tokens do not)."""

    kind = "examples"
    uses_tau = True

    class Options(ClaimOptions):
        fires: Texts | None = Field(None, description="texts where the [[marked]] tokens fire")
        silent: Texts | None = Field(None, description="texts where no (or no marked) token fires")
        share: BoundText | None = Field(None, description="share of checked tokens right (default '>= 1.0')")

        @model_validator(mode="after")
        def _needs_texts(self) -> ExamplesClaim.Options:
            if not self.fires and not self.silent:
                raise ValueError("an 'examples' claim needs a non-empty `fires:` or `silent:` list of texts")
            return self

    def check(self, lab: Lab) -> None:
        for text in (self.settings.fires or []):
            self.checked_text(lab, text, "fires", require_marks=True)
        for text in (self.settings.silent or []):
            self.checked_text(lab, text, "silent")

    def run(self, lab: Lab, settings: RunSettings = DEFAULT_SETTINGS) -> ClaimResult:
        tau = lab.tau(self.neuron, self.threshold())
        fires = [mark_positions(lab.tokenizer, t) for t in (self.settings.fires or [])]
        silent = [mark_positions(lab.tokenizer, t) for t in (self.settings.silent or [])]
        readouts = activations_on_texts(lab.model, self.neuron, [m.text for m in fires + silent])
        ok, total, bad_rows, good_rows = 0, 0, [], []
        for i, (marked, read) in enumerate(zip(fires + silent, readouts)):
            should_fire = i < len(fires)
            if should_fire or marked.positions:
                checked = list(marked.positions)
            else:
                checked = list(range(len(read.values)))
            if should_fire:
                good = [read.values[p] > tau for p in checked]
            else:
                good = [read.values[p] <= tau for p in checked]
            total += len(good)
            ok += sum(good)
            wrong = [p for p, g in zip(checked, good) if not g]
            row = TokenRow(read.str_tokens, read.values, wrong if wrong else list(marked.positions),
                           label=("should fire" if should_fire else "should stay silent")
                           + ("" if not wrong else " - WRONG"), pieces=read.pieces)
            (bad_rows if wrong else good_rows).append(row)
        share = ok / total if total else 0.0
        evidence = []
        if bad_rows:
            evidence.append(Evidence(f"texts that break the claim (tau={tau:.3g})", bad_rows))
        evidence.append(Evidence("texts that agree with the claim", good_rows))
        summary = (f"{ok}/{total} checked positions behave as claimed in {len(fires)} firing and "
                   f"{len(silent)} silent texts (tau={tau:.3g})")
        return ClaimResult(self.kind, self.neuron,
                           [Measurement("share", share, self.bound("share", ">= 1.0"))], summary, evidence)
