"""The message a person reads when a claim fails: where, what, expected vs measured, examples."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neurontest.claims.evidence import describe_rows
from neurontest.claims.logit_attribution import RANK_VALUE_LABEL

_VERDICT_WORDS = {"invalid": "says nothing beyond chance", "inconclusive": "is inconclusive",
                  "failed": "failed", "passed": "holds"}
#: Table entries a failure message lists: enough for any usual top-k, so a "top-20" shows 20.
MAX_TABLE_ENTRIES = 50

if TYPE_CHECKING:
    from neurontest.claims.base import Claim, ClaimResult, Evidence


def failure_message(claim: Claim, result: ClaimResult, lab: Any) -> str:
    """What a person needs to act on a failed claim: where, what, expected vs measured, examples."""
    info = lab.describe()
    neuron = claim.neuron
    lines = [
        f"{neuron.short_id} ({neuron.address}) {claim.kind} claim {_VERDICT_WORDS[result.verdict]}",
        f"  model {info['model']['name']} ({info['model']['fingerprint']}); corpus "
        f"{info.get('corpus', {}).get('name', '-')}",
    ]
    if claim.subject.description:
        lines.append(f"  neuron claimed to: {claim.subject.description}")
    lines.append(f"  {result.summary}")
    if result.invalid:
        lines.append(f"  INVALID {result.invalid}")
    if result.inconclusive:
        lines.append(f"  INCONCLUSIVE {result.inconclusive.removeprefix('inconclusive: ')}")
    for measurement in result.measurements:
        flag = "FAIL" if not measurement.passed else "    "
        lines.append(f"  {flag} {measurement}")
    lines += [f"  FAIL {text}" for text in result.extra_failures]
    lines += [f"  more evidence: {text}" for text in result.advice]
    for evidence in result.evidence[:2]:
        if evidence.rows:
            lines.append(f"  {evidence.title}:")
            lines += describe_rows(evidence.rows)
        elif evidence.table:
            lines.append(f"  {evidence.title}: {table_text(evidence)}")
    return "\n".join(lines)


def table_text(evidence: Evidence, limit: int = MAX_TABLE_ENTRIES) -> str:
    """A token/value table on one line: every entry its title promises (up to `limit`)."""
    # Rank tables label their rows themselves ("' which' #3 (pushed up)"); others are tokens.
    labelled = evidence.value_label == RANK_VALUE_LABEL
    shown = ", ".join(f"{t} {v:+.2f}" if labelled else f"{t!r} {v:.2f}"
                      for t, v in evidence.table[:limit])
    more = len(evidence.table) - limit
    return shown + (f", ... and {more} more" if more > 0 else "")
