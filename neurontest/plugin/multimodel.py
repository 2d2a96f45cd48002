"""Several checkpoints in one run: which models a hypothesis file is tested on, and how.

A file names one `model:` or a list `models:`; `--neurontest-model` replaces them and
`--neurontest-also-model` (repeatable) adds more. The first model is the reference: with
`--neurontest-match-neurons`, claims on every other model run on that model's best-matching
neuron (neurontest.measure.matching) instead of the same index. Each claim becomes one item per model;
the model label is appended to the node id (`activation[smollm2-135m-int8]`) only when there is
more than one model, so single-model ids stay short.

Import-cheap: the plugin and collectors import this before any model loads.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurontest.engine.models.loading import DEFAULT_MODEL
from neurontest.engine.units.protocol import unit_order
from neurontest.errors import ClaimFailed, NeurontestError
from neurontest.measure.matching import match_neurons

if TYPE_CHECKING:
    from neurontest.claims.base import Claim, ClaimResult
    from neurontest.claims.runner import ClaimRunner
    from neurontest.format.spec import HypothesisFile
    from neurontest.plugin.session import LabKey, NeurontestSession


@dataclass(frozen=True)
class ModelTarget:
    """One model a file's claims run on: its lab key, its label, and the reference to match
    neurons against (None: test the claimed neuron index as written)."""

    key: LabKey
    label: str
    match_from: LabKey | None = None


def model_label(name: str | None, revision: str | None = None) -> str:
    """A short, file-name- and node-id-safe name: a local folder's name, a hub id with `/` -> `-`."""
    base = str(name) if name is not None else DEFAULT_MODEL
    path = Path(base).expanduser()
    if base.startswith((".", "/", "~")) or path.is_dir():
        base = path.resolve().name if path.name in ("", ".", "..") else path.name
    label = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "model"
    if revision:
        label += "@" + re.sub(r"[^A-Za-z0-9._-]+", "-", revision)
    return label


def file_targets(session: NeurontestSession, spec: HypothesisFile) -> list[ModelTarget]:
    """The models one hypothesis file is tested on, reference first, without duplicates."""
    if session.model:
        names: list[str | None] = [session.model]
    elif getattr(spec, "models", None):
        names = list(spec.models)
    else:
        names = [spec.model]
    names += list(getattr(session, "also_models", []) or [])
    base = session.lab_key(spec.model, spec.revision, spec.corpus, spec.corpus_tokens,
                           spec.window, spec.seed, getattr(spec, "split", "all"))
    targets: list[ModelTarget] = []
    seen: set[str] = set()
    labels: set[str] = set()
    for name in names:
        ident = str(name or DEFAULT_MODEL)
        if ident in seen:
            continue
        seen.add(ident)
        key = base if name == base.model else dataclasses.replace(base, model=name)
        label = model_label(name, key.revision)
        while label in labels:  # two folders both called `checkpoint`
            label += f"-{len(targets) + 1}"
        labels.add(label)
        match_from = targets[0].key if targets and getattr(session, "match_neurons", False) else None
        targets.append(ModelTarget(key, label, match_from))
    return targets


def run_claim(session: NeurontestSession, item: Any, runner: ClaimRunner) -> tuple[Claim, ClaimResult]:
    """Run an item's claim through its lab's runner, on the matched unit when the item asks
    for matching (with the same result memory and tau as any other claim)."""
    claim, lab = item.claim, runner.lab
    match_from = getattr(item, "match_from", None)
    if match_from is None:
        return claim, runner.run(claim)

    cache_key = (match_from, item.lab_key, claim.neuron)
    if cache_key not in session.matches:
        # Match every neuron the selected items need on this model in one pass of the model.
        wanted = {other.claim.neuron for other in getattr(item.session, "items", [])
                  if getattr(other, "match_from", None) == match_from
                  and getattr(other, "lab_key", None) == item.lab_key} | {claim.neuron}

        try:
            found = match_neurons(session.prepared_lab(match_from),
                                  sorted(wanted, key=unit_order), lab)
        except (NeurontestError, ValueError) as exc:  # e.g. the two tokenizers differ
            raise ClaimFailed(f"{claim.neuron.short_id}: cannot match neurons on "
                              f"{item.model_label}: {exc}") from None
        session.matches.update({(match_from, item.lab_key, n): m for n, m in found.items()})
    match = session.matches[cache_key]
    matched = type(claim)(dataclasses.replace(claim.subject, neuron=match.neuron_b), claim.config,
                          claim.settings)
    result = runner.run(matched)
    result.summary = f"matched {match.neuron_a.kind} {match.describe()}; {result.summary}"
    record = session.records.get(item.nodeid)
    if record is not None:
        record.match = match.to_json()
    return matched, result


def match_summary_lines(session: NeurontestSession) -> list[str]:
    """One line per neuron match made this session, for the terminal summary."""
    lines = []
    for record in session.records.values():
        match = getattr(record, "match", None)
        if match:
            lines.append(f"matched {match['neuron_a']} -> {match['neuron_b']} on {record.model} "
                         f"(r = {match['correlation']:.3f}): {record.nodeid}")
    return lines
