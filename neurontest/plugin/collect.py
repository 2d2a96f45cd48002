"""pytest nodes for YAML hypothesis files: File -> one Collector per neuron -> one Item per claim.

Node ids read `hypotheses/test_months.yaml::L1N298::activation`, so `-k activation`,
`-k L1N298` and node-id selection all work. A file that cannot be used (bad YAML, unknown key,
neuron out of range, a token the tokenizer splits, a model that cannot load) is a collection
error for that file alone, with a one-line message that names the file, line and fix.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from neurontest.claims.messages import failure_message
from neurontest.errors import ClaimFailed, HypothesisFileError, NeurontestError
from neurontest.format.kinds import CLAIM_KINDS
from neurontest.format.spec import load_hypothesis_file
from neurontest.plugin.multimodel import ModelTarget, file_targets, model_label, run_claim
from neurontest.plugin.session import ClaimRecord, session_key

if TYPE_CHECKING:
    from neurontest.claims.base import Claim, ClaimResult
    from neurontest.format.spec import ClaimEntry, NeuronEntry
    from neurontest.plugin.session import LabKey, NeurontestSession


def _session(node: pytest.Item | pytest.Collector) -> NeurontestSession:
    return node.config.stash[session_key]


class HypothesisYamlFile(pytest.File):
    """A `test_*.yaml` hypothesis file."""

    def collect(self) -> Iterator[NeuronCollector]:
        try:
            spec = load_hypothesis_file(self.path)
        except HypothesisFileError as exc:
            raise self.CollectError(str(exc)) from None

        session = _session(self)
        _register_claim_markers(self.config)
        targets = file_targets(session, spec)  # one per model/checkpoint, reference first
        try:
            labs = [session.lab(target.key) for target in targets]
            # The checks below need the tokenizer, so the model; skip them when this exact file
            # already passed them against these models and corpora.
            checked_key = session.checked_key(self.path, targets, labs)
            checked = checked_key is not None and session.results.was_checked(checked_key)
        except NeurontestError as exc:  # a model or corpus that cannot load: one line
            raise self.CollectError(f"{self.path}: {exc}") from None
        collectors = []
        for entry in spec.neurons:
            predicate = entry.subject().predicate
            try:  # the unit's `fires_on` names tokens of the vocabulary, whichever claims use it
                for lab in labs if predicate is not None and not checked else ():
                    predicate.check(lab.vocab)
            except ValueError as exc:
                raise self.CollectError(f"{self.path}:{entry.line}: {entry.neuron.short_id} "
                                        f"fires_on: {exc}") from None
            except NeurontestError as exc:
                raise self.CollectError(f"{self.path}: {exc}") from None
            claims = []
            for claim_entry in entry.claims:
                try:
                    claim = entry.build(claim_entry)
                    for target, lab in zip(targets, labs) if not checked else ():
                        if target.match_from is None:  # a matched neuron is found at run time
                            session.runner(target.key).check(claim)
                        else:
                            claim.check(lab)
                except ValueError as exc:
                    raise self.CollectError(
                        f"{self.path}:{claim_entry.line}: {entry.neuron.short_id} "
                        f"{claim_entry.kind}: {exc}") from None
                except NeurontestError as exc:  # a deferred model or corpus failed to load
                    raise self.CollectError(f"{self.path}: {exc}") from None
                claims.append((claim_entry, claim))
            collectors.append(NeuronCollector.from_parent(
                self, name=entry.neuron.short_id, entry=entry, claims=claims,
                lab_key=targets[0].key, targets=targets))
        if checked_key is not None and not checked:
            session.results.mark_checked(checked_key)
        yield from collectors


class NeuronCollector(pytest.Collector):
    """The claims about one neuron in one file."""

    def __init__(self, *, entry: NeuronEntry, claims: list[tuple[ClaimEntry, Claim]],
                 lab_key: LabKey, targets: list[ModelTarget] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry
        self.claims = claims
        self.lab_key = lab_key
        self.targets = targets

    def collect(self) -> Iterator[ClaimItem]:
        targets = self.targets or [ModelTarget(self.lab_key, model_label(self.lab_key.model,
                                                                        self.lab_key.revision))]
        for claim_entry, claim in self.claims:
            for target in targets:
                # One item per model; the `[model]` suffix only when there are several.
                name = claim_entry.name if len(targets) == 1 else f"{claim_entry.name}[{target.label}]"
                item = ClaimItem.from_parent(self, name=name, claim=claim, line=claim_entry.line,
                                             lab_key=target.key, model_label=target.label,
                                             claim_id=f"{self.name}::{claim_entry.name}",
                                             match_from=target.match_from,
                                             claimed_false=claim_entry.xfail)
                item.add_marker(getattr(pytest.mark, claim.kind))
                yield item


class ClaimItem(pytest.Item):
    """One claim: runs it on the session's lab and fails with the measured evidence."""

    def __init__(self, *, claim: Claim, line: int, lab_key: LabKey, model_label: str = "",
                 claim_id: str = "", match_from: LabKey | None = None,
                 claimed_false: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: the `xfail:` reason of a claim the file states to be false (None: claimed true)
        self.claimed_false = claimed_false
        self.drift_only = False  # failed on its baseline alone (reported as drifted)
        self.claim = claim
        self.line = line
        self.lab_key = lab_key
        self.model_label = model_label  # names the baseline file and the matrix column
        self.claim_id = claim_id or self.name  # `L1N298::activation`, no model suffix
        self.match_from = match_from  # reference model's lab key (--neurontest-match-neurons)
        self.result: ClaimResult | None = None

    def record(self) -> ClaimRecord:
        return ClaimRecord(self.nodeid, self.claim.kind, self.claim.neuron.short_id,
                           str(self.path), self.line, claim_id=self.claim_id,
                           model=self.model_label)

    def compute(self) -> tuple[Claim, ClaimResult, Any]:
        """(the claim run, its result, the lab): remembered, or computed after the session's one
        mining pass; on the matched unit when the item asks for matching."""
        session = _session(self)

        runner = session.runner(self.lab_key)
        remembered = runner.remembered(self.claim) if self.match_from is None else None
        if remembered is not None:  # an earlier run's result: no model work at all
            return self.claim, remembered, runner.lab
        session.prepared_lab(self.lab_key)  # one mining pass for every planned claim
        claim, result = run_claim(session, self, runner)
        return claim, result, runner.lab

    def runtest(self) -> None:
        session = _session(self)
        started = time.perf_counter()
        session.decide_family(self.session.items)  # --neurontest-error-control: all p-values first
        claim, self.result, lab = session.precomputed.pop(self.nodeid, None) or self.compute()
        record = session.records.get(self.nodeid)
        if record is not None:
            record.result = self.result
            record.lab = lab.describe()
            record.duration = time.perf_counter() - started
        family_failure = session.family_failure(self.nodeid, self.result)
        if family_failure:
            self.result.extra_failures.append(family_failure)
        outcome = claim_outcome(self.result.verdict, self.claimed_false is not None)
        # Compare with (or, when updating, record) the baseline. A drift is its own failure: it
        # never turns a holding claim into an expected failure, nor hides one.
        drift = (session.baselines.check(self, self.result, lab.describe(), verdict=outcome)
                 if session.baselines else None)
        if outcome in ("passed", "xfailed") and drift:
            self.drift_only = True
            raise ClaimFailed(drift, evidence=self.result)
        if outcome == "xfailed":
            pytest.xfail(f"claimed false and the evidence refutes it: {self.claimed_false}")
        if outcome != "passed":
            message = failure_message(claim, self.result, lab)
            if self.claimed_false is not None:
                message = _claimed_false_message(outcome, self.claimed_false) + "\n" + message
            raise ClaimFailed(message + (f"\n{drift}" if drift else ""), evidence=self.result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, NeurontestError):  # its message is the whole story
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, self.line - 1, f"{self.claim.neuron.short_id} {self.claim.kind}"


def claim_outcome(verdict: str, claimed_false: bool) -> str:
    """The item's outcome from the claim's verdict: a claim marked `xfail:` is claimed false, so
    only a failure with enough evidence is the expected outcome (`xfailed`); a holding claim is
    an unexpected pass (`xpassed`, which fails the run), and inconclusive or vacuous evidence
    stays what it is, never a confirmed "false"."""
    if verdict == "invalid":
        return "failed"
    if not claimed_false:
        return verdict
    return {"passed": "xpassed", "failed": "xfailed"}.get(verdict, verdict)


def _claimed_false_message(outcome: str, reason: str) -> str:
    if outcome == "xpassed":
        return (f"XPASS(strict): the file claims this false ({reason}), but the evidence supports "
                f"it; drop `xfail:` if the explanation now holds")
    if outcome == "inconclusive":
        return (f"claimed false ({reason}), but the evidence is too thin to refute it: an xfail "
                f"needs the same support as a pass")
    return f"claimed false ({reason}), but the claim gives no verdict"


def _register_claim_markers(config: pytest.Config) -> None:
    # Each item is marked with its claim kind (`-m ablation`); registering the names keeps
    # --strict-markers happy. Done here, not at configure time, so plain runs import nothing.

    known = " ".join(config.getini("markers"))
    for kind in CLAIM_KINDS:
        if f"{kind}:" not in known:
            config.addinivalue_line("markers", f"{kind}: neurontest {kind} claims")
