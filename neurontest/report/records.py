"""What a run produced, as the report reads it: one record per claim, and the run's state.

Plain data below the pytest layer, so the report (and scripts such as the checkpoint matrix) can
be built from records without pytest: the plugin's session fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from neurontest.claims.base import ClaimResult


@dataclass
class ClaimRecord:
    """One claim's outcome as the report shows it."""

    nodeid: str
    kind: str
    neuron: str
    file: str
    line: int
    outcome: str = "pending"
    result: ClaimResult | None = None
    message: str = ""
    duration: float = 0.0
    lab: dict[str, Any] = field(default_factory=dict)
    claim_id: str = ""  # `L1N298::activation`: the node id after the file, without a model suffix
    model: str = ""  # the model label (a column of neurontest.report.matrix.claims_matrix)
    match: dict[str, Any] | None = None  # the matched neuron (--neurontest-match-neurons)
    #: A Python test (`neuron` fixture) may make several claims: `result` is the one that failed
    #: (else the last), these are the others, shown as more evidence on the same card.
    more_results: list[ClaimResult] = field(default_factory=list)

    def add_result(self, result: ClaimResult) -> None:
        """Note one more claim made by the same test; the first failing one is the headline."""
        made = [r for r in (self.result, *self.more_results) if r is not None] + [result]
        made.sort(key=lambda r: r.passed)  # stable: failures first, each group in order made
        headline = made[0] if not made[0].passed else made[-1]
        self.result = headline
        self.more_results = [r for r in made if r is not headline]


def record_to_dict(record: ClaimRecord) -> dict[str, Any]:
    """Plain data for a record, so pytest-xdist can ship it from a worker to the controller."""
    import dataclasses

    from neurontest.claims.base import result_to_dict

    # The result's unit writes its own plain form (an SAE latent would otherwise copy its weights).
    result = None if record.result is None else result_to_dict(record.result)
    return dataclasses.asdict(dataclasses.replace(record, result=None)) | {"result": result}


def record_from_dict(data: dict[str, Any]) -> ClaimRecord:
    """The inverse of `record_to_dict`, rebuilding the claim result and its evidence."""
    from neurontest.claims.base import result_from_dict

    result = data.get("result")
    more = [result_from_dict(r) for r in data.get("more_results", [])]
    return ClaimRecord(**(data | {"result": None if result is None else result_from_dict(result),
                                  "more_results": more}))


class RunState(Protocol):
    """What the report reads of a run (the pytest plugin's `NeurontestSession` is one)."""

    records: dict[str, ClaimRecord]
    labs: dict[Any, Any]
    started: float

    def counts(self) -> dict[str, int]: ...
