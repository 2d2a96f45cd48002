"""Claims from Python: the object behind the `neuron` fixture (usable without pytest too).

    n = NeuronUnderTest.create(lab, "L1N298", fires_on={"tokens": ["March"]}, threshold=1.0)
    result = n.assert_fires_on(f1=">= 0.7")    # AssertionError with evidence if it fails
    result.metrics()["precision"]

Each `assert_<kind>` runs exactly the claim the YAML `kind: <kind>` runs, with the same options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from neurontest.claims.base import Claim, ClaimResult, Subject, Threshold
from neurontest.claims.messages import failure_message
from neurontest.claims.predicates import Predicate, PythonPredicate, predicate_from_dict
from neurontest.claims.runner import ClaimRunner
from neurontest.format.kinds import get_claim_class
from neurontest.claims.unit_entries import unit_from_entry, unit_from_text

if TYPE_CHECKING:
    from neurontest.lab import Lab


@dataclass
class NeuronUnderTest:
    runner: ClaimRunner
    subject: Subject
    #: Called with every result (the `neuron` fixture puts it on the test's report card).
    on_result: Callable[[ClaimResult], None] | None = None

    @property
    def lab(self) -> Lab:
        return self.runner.lab

    @classmethod
    def create(cls, lab: Lab | ClaimRunner, unit: str | Mapping[str, Any] | Any, *,
               fires_on: Any = None, threshold: Any = None, description: str = "",
               on_result: Callable[[ClaimResult], None] | None = None) -> NeuronUnderTest:
        """`unit`: any unit form a hypothesis file accepts: `"L1N298"`, `"L5H3"`,
        `"<sae>#<latent>"`, an entry's keys (`{"sae": ..., "latent": 12}`,
        `{"direction": "v.pt", "hook": "blocks.3.hook_resid_post"}`) or a unit object.
        `fires_on`: a predicate's YAML form (dict), a list of tokens, a `Predicate`, or a
        function `(ids, position, vocab) -> bool`. A bare `Lab` gets a runner with the default
        settings and no result memory."""
        runner = lab if isinstance(lab, ClaimRunner) else ClaimRunner(lab)
        lab = runner.lab
        if isinstance(unit, str):
            ref = unit_from_text(unit)
        elif isinstance(unit, Mapping):
            ref = unit_from_entry(unit)
        else:
            ref = unit
        lab.check_unit(ref)
        predicate = None
        if callable(fires_on) and not isinstance(fires_on, Predicate):
            name = f"{getattr(fires_on, '__module__', '?')}:{getattr(fires_on, '__qualname__', fires_on)}"
            predicate = PythonPredicate(fires_on, name)
        elif fires_on is not None:  # checked against the tokenizer when a claim runs
            predicate = predicate_from_dict(fires_on)
        return cls(runner, Subject(ref, predicate, Threshold.parse(threshold), description), on_result)

    def check(self, kind: str, **options: Any) -> ClaimResult:
        """Run a claim of `kind` and return its result without asserting."""
        return self._run(kind, options)[1]

    def assert_claim(self, kind: str, **options: Any) -> ClaimResult:
        """Run a claim of `kind`; raise AssertionError with the evidence if it does not hold."""
        __tracebackhide__ = True

        claim, result = self._run(kind, options)
        if not result.passed:
            raise AssertionError(failure_message(claim, result, self.lab))
        return result

    def _run(self, kind: str, options: dict[str, Any]) -> tuple[Claim, ClaimResult]:
        claim = get_claim_class(kind)(self.subject, options)  # validates the options, once
        result = self.runner.remembered(claim)  # a session's runner remembers earlier runs
        if result is None:
            if self.subject.predicate is not None:
                self.subject.predicate.check(self.lab.vocab)
            claim.check(self.lab)
            result = self.runner.run(claim)
        if self.on_result is not None:
            self.on_result(result)
        return claim, result

    def assert_fires_on(self, **bounds: Any) -> ClaimResult:
        """`activation` claim: metric bounds such as f1='>= 0.7', precision='>= 0.8'."""
        __tracebackhide__ = True
        return self.assert_claim("activation", **bounds)

    def assert_examples(self, **options: Any) -> ClaimResult:
        """`examples` claim: fires=[texts with [[marks]]], silent=[texts]."""
        __tracebackhide__ = True
        return self.assert_claim("examples", **options)

    def assert_top_examples(self, **options: Any) -> ClaimResult:
        """`top_examples` claim: k=20, share='>= 0.9'."""
        __tracebackhide__ = True
        return self.assert_claim("top_examples", **options)

    def assert_ablation(self, **options: Any) -> ClaimResult:
        """`ablation` claim: texts=[...], target=' April', effect='<= -0.5'."""
        __tracebackhide__ = True
        return self.assert_claim("ablation", **options)

    def assert_noise(self, **options: Any) -> ClaimResult:
        """`noise` claim: text='... [[trigger]] ...', trigger_rank='<= 1'."""
        __tracebackhide__ = True
        return self.assert_claim("noise", **options)

    def assert_simplify(self, **options: Any) -> ClaimResult:
        """`simplify` claim: text='... [[trigger]]', keep_share=0.5."""
        __tracebackhide__ = True
        return self.assert_claim("simplify", **options)

    def assert_logit_attribution(self, **options: Any) -> ClaimResult:
        """`logit_attribution` claim: matches={'regex': ...}, k=20, share='>= 0.5'."""
        __tracebackhide__ = True
        return self.assert_claim("logit_attribution", **options)
