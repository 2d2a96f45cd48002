"""One unit at a glance, and a first hypothesis file to test it: `neurontest inspect L3N1234`
(also `L5H3` for a head, `<sae>#<latent>` for an SAE latent).

    lab = Lab.load()
    view = inspect_neuron(lab, "L3N1234")
    view                      # in Jupyter: heatmaps, histogram, logit attribution
    print(view.draft_yaml())  # a starting hypothesis, or a comment saying none is worth drafting

The draft's predicate is the best simple explanation `neurontest.claims.explain` finds (highest
F1 on the corpus), and each bound sits just below what it measured: the draft passes as written on
the same model and corpus, and fails with any bound raised by 0.1. Drafted on a lab whose corpus
is the `explore` half of the documents (the CLI's default), the draft says `split: confirm`: it is
then tested on the other half, text its predicate was not fitted to (pre-registration). Its `examples` texts are checked
on the model before they are proposed. When the best F1 is below 0.5 nothing simple explains the
neuron, and the draft is commented out. It is a start, not a claim anyone has reviewed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurontest.claims.base import Evidence
from neurontest.claims.evidence import example_row
from neurontest.claims.explain import MIN_F1, explain_neuron
from neurontest.claims.marked import mark_positions, strip_marks
from neurontest.claims.unit_entries import unit_entry, unit_from_text
from neurontest.measure.attribution import logit_attribution
from neurontest.measure.metrics import METRIC_NAMES
from neurontest.measure.readout import activations_on_texts
from neurontest.measure.top_examples import random_examples, top_examples
from neurontest.report.context import fmt, heatmap_context, histogram_context, table_context
from neurontest.report.render import render, write_atomic

if TYPE_CHECKING:
    from neurontest.claims.explain import Explanation
    from neurontest.engine.units.protocol import UnitRef
    from neurontest.lab import Lab
    from neurontest.measure.top_examples import CorpusExample

RELATIVE_THRESHOLD = 0.25  # the histogram's "share above" line
BOUNDED_METRICS = ("f1", "precision", "recall")  # drafted bounds, by the scorer's names
BOUND_MARGIN = 0.02  # how far below the measured value a drafted bound sits (plus rounding)


@dataclass
class NeuronInspection:
    """What `inspect_neuron` found: examples, activation histogram, stats, logit attribution."""

    neuron: UnitRef  # a neuron, head, SAE latent or direction
    model: dict[str, Any]
    corpus: dict[str, Any]
    top: list[CorpusExample]
    random: list[CorpusExample]
    histogram: dict[str, Any]
    promoted: list[tuple[str, float]] = field(default_factory=list)
    suppressed: list[tuple[str, float]] = field(default_factory=list)
    draft: dict[str, Any] = field(default_factory=dict)
    explanation: Explanation | None = None
    attribution_error: str = ""

    @property
    def stats(self) -> dict[str, float]:
        """max, mean, min, n and share_above (share of tokens > 0.25 x max) over the corpus."""
        return dict(self.histogram.get("stats", {}))

    @property
    def histogram_counts(self) -> list[int]:
        """Token counts per bin of the corpus activations (bins edges: `histogram_edges`)."""
        return list(self.histogram.get("counts", []))

    @property
    def histogram_edges(self) -> list[float]:
        return list(self.histogram.get("edges", []))

    @property
    def explained(self) -> bool:
        """Whether a simple predicate explains the neuron well enough to draft claims."""
        return self.explanation is not None and self.explanation.explained

    def draft_yaml(self) -> str:
        """The draft hypothesis file (YAML text; strings are JSON-quoted, which YAML reads).
        When nothing simple explains the neuron, every line is a comment saying so: no claim."""
        if self.explained or self.explanation is None:
            return _yaml(self.draft)
        text = _yaml(self.draft, header=False)
        return "\n".join(_unexplained_header(self.neuron, self.explanation)
                         + [f"# {line}".rstrip() for line in text.splitlines()]) + "\n"

    def context(self) -> dict[str, Any]:
        """The plain data the inspection templates render."""
        k = len(self.top)
        heatmaps = [
            heatmap_context(Evidence(f"top-{k} corpus examples (one per window)",
                                     [example_row(e) for e in self.top]), max_rows=k),
            heatmap_context(Evidence(f"{len(self.random)} random corpus tokens (unbiased view)",
                                     [example_row(e) for e in self.random]), max_rows=len(self.random)),
        ]
        unit = "logit per unit activation"
        tables = [table_context(Evidence("promoted (direct logit attribution)", table=self.promoted,
                                         value_label=unit)),
                  table_context(Evidence("suppressed", table=self.suppressed, value_label=unit))]
        stats = self.stats
        return {
            "neuron": self.neuron.short_id, "address": self.neuron.address, "model": self.model,
            "corpus": self.corpus, "histogram": self.histogram,
            "stats": {key: fmt(stats[key]) if key != "n" else str(int(stats[key])) for key in stats}
            if stats else {"max": "-", "mean": "-", "share_above": "-", "n": "0"},
            "heatmaps": [h for h in heatmaps if h], "tables": [t for t in tables if t],
            "attribution_error": self.attribution_error, "draft_yaml": self.draft_yaml(),
        }

    def _repr_html_(self) -> str:
        return render("inspection.html.j2", x=self.context())

    def save_html(self, path: Path | str) -> Path:
        """Write a standalone page (no network resources) to `path`, atomically."""
        return write_atomic(Path(path), render("inspection_page.html.j2", x=self.context()))


def inspect_neuron(lab: Lab, neuron: Any, *, k: int = 12) -> NeuronInspection:
    """Mine `neuron` (any unit: a neuron, head, SAE latent or direction, or its short form such as
    "L5H3" or "<sae>#<latent>") on the lab's corpus and gather its top and random examples,
    histogram, stats, direct logit attribution (where the unit has an output direction) and a
    draft hypothesis."""
    ref = unit_from_text(neuron) if isinstance(neuron, str) else neuron
    lab.check_unit(ref)
    values = lab.activations(ref)
    batch = lab.sample.batch
    top = top_examples(values, batch, lab.tokenizer, k=k)
    rand = random_examples(values, batch, lab.tokenizer, k=k)
    info = lab.describe()
    corpus_name = info.get("corpus", {}).get("name", "corpus")
    histogram = histogram_context(lab.scorable(ref), title=f"{ref} on {corpus_name}",
                                  share=RELATIVE_THRESHOLD)
    view = NeuronInspection(ref, info["model"], info.get("corpus", {}), top, rand, histogram)
    try:
        n = min(10, int(lab.model.cfg.d_vocab))
        attribution = logit_attribution(lab.model, ref, k=n)
        view.promoted, view.suppressed = attribution.promoted, attribution.suppressed
    except ValueError as exc:  # e.g. an unsupported final norm: the rest still stands
        view.attribution_error = str(exc)
    view.explanation = explain_neuron(lab, ref)
    view.draft = draft_hypothesis(lab, ref, top, rand, view.explanation)
    return view


def bound_below(measured: float) -> str | None:
    """`>= b` with b on the 0.01 grid, BOUND_MARGIN to BOUND_MARGIN + 0.01 below `measured`, so the
    claim passes on the lab it was measured on and fails with b raised by 0.1; None when b would
    be 0 or less (a bound that cannot fail says nothing)."""
    value = math.floor((measured - BOUND_MARGIN) * 100) / 100
    return f">= {value:.2f}" if value > 0 else None


def draft_hypothesis(lab: Lab, neuron: UnitRef, top: list[CorpusExample],
                     rand: list[CorpusExample],
                     explanation: Explanation | None = None) -> dict[str, Any]:
    """A hypothesis-file mapping: `fires_on` the best simple explanation found
    (`neurontest.claims.explain`), each bound just below what it measured. It is drafted even
    when nothing simple explains the neuron: `NeuronInspection.draft_yaml` then comments it out."""
    explanation = explanation or explain_neuron(lab, neuron)
    entry: dict[str, Any] = unit_entry(neuron)
    claims: list[dict[str, Any]] = []
    draft: dict[str, Any] = {}
    if explanation.candidate is not None:
        scores = explanation.scores
        entry["description"] = (f"drafted by `neurontest inspect`: {explanation.describe()}; "
                                f"say what the neuron does")
        entry["fires_on"] = explanation.fires_on
        entry["threshold"] = {"relative": explanation.threshold.value}
        # Bounds by the names the scorer returns: which rate is "precision" is the scorer's call.
        bounds = {name: bound_below(scores[name]) for name in BOUNDED_METRICS
                  if name in scores and name in METRIC_NAMES}
        claims.append({"kind": "activation"} | {k: v for k, v in bounds.items() if v})
        claimed = lab.claimed(explanation.candidate.predicate)
        share = sum(bool(claimed[e.row, e.position]) for e in top) / max(len(top), 1)
        if top and (share_bound := bound_below(share)):
            claims.append({"kind": "top_examples", "k": len(top), "share": share_bound})
        fires, silent = _example_texts(lab, neuron, top, rand, float(scores["tau"]))
        if fires or silent:
            example: dict[str, Any] = {"kind": "examples"}
            if fires:
                example["fires"] = fires
            if silent:
                example["silent"] = silent
            claims.append(example)
    else:
        entry["description"] = "drafted by `neurontest inspect`: no candidate names enough positions"
    entry["claims"] = claims
    name = lab.describe()["model"].get("name")
    if name and name != "?":
        draft["model"] = name
    if getattr(lab.model, "neurontest_revision", None):
        draft["revision"] = lab.model.neurontest_revision
    opts = lab.corpus_options
    if opts.spec:
        draft["corpus"] = str(opts.spec)
    if opts.n_tokens != 100_000:
        draft["corpus_tokens"] = opts.n_tokens
    if opts.window != 64:
        draft["window"] = opts.window
    if opts.split == "explore":  # fitted on explore: tested on the held-out half
        draft["split"] = "confirm"
    elif opts.split != "all":
        draft["split"] = opts.split
    draft["neurons"] = [entry]
    return draft


def _context_ids(lab: Lab, example: CorpusExample) -> list[int]:
    start = example.position - example.focus
    return lab.sample.batch.tokens[example.row, start : start + len(example.str_tokens)].tolist()


def _marked_text(tokenizer: Any, ids: list[int], focus: int) -> str | None:
    """The decoded context with the focus token wrapped in [[ ]], cut to the focus's line."""
    prefix = tokenizer.decode(ids[:focus])
    through = tokenizer.decode(ids[: focus + 1])
    full = tokenizer.decode(ids)
    if not through.startswith(prefix) or not full.startswith(through):
        return None
    piece, before, after = through[len(prefix):], prefix, full[len(through):]
    core = piece.strip()
    if not core or "[[" in full or "]]" in full or "\n" in core:
        return None
    lead, trail = piece[: len(piece) - len(piece.lstrip())], piece[len(piece.rstrip()):]
    before, after = before.rsplit("\n", 1)[-1], after.split("\n", 1)[0]
    return (before + lead + "[[" + core + "]]" + trail + after).strip()


def _example_texts(lab: Lab, neuron: UnitRef, top: list[CorpusExample],
                   rand: list[CorpusExample], tau: float) -> tuple[list[str], list[str]]:
    """Two texts from top examples where the marked token fires and one random context where
    nothing does, each verified on the model (context cut from the corpus can change things)."""
    candidates: list[tuple[str, int]] = []
    for example in top:
        text = _marked_text(lab.tokenizer, _context_ids(lab, example), example.focus)
        if text is None or text in (c[0] for c in candidates):
            continue
        try:
            marked = mark_positions(lab.tokenizer, text, require_marks=True)
        except ValueError:
            continue
        candidates.append((text, marked.positions[0]))
        if len(candidates) >= 6:
            break
    quiet = []
    for example in rand:
        if max(example.values, default=0.0) <= tau:
            text = lab.tokenizer.decode(_context_ids(lab, example)).split("\n")[-1].strip()
            if text and "[[" not in text and text not in quiet:
                quiet.append(text)
    if not candidates and not quiet:
        return [], []
    plain = [strip_marks(t)[0] for t, _ in candidates] + quiet
    reads = activations_on_texts(lab.model, neuron, plain)
    fires = [t for (t, pos), read in zip(candidates, reads)
             if pos < len(read.values) and read.values[pos] > tau][:2]
    silent = [t for t, read in zip(quiet, reads[len(candidates):])
              if read.values and max(read.values) <= tau][:1]
    return fires, silent


def _unexplained_header(neuron: UnitRef, explanation: Explanation) -> list[str]:
    best = explanation.describe() if explanation.candidate is not None else "no candidate"
    return [f"# neurontest inspect: nothing simple explains {neuron.short_id}. The best candidate found,",
            f"#   {best},",
            f"# is below f1 {MIN_F1}, so no claim is drafted: a claim about it would either fail or,",
            "# with its bounds lowered until it passes, say nothing. The draft below is a starting",
            "# point, commented out; look at the page's examples and write the predicate yourself.",
            "#"]


def _yaml(draft: dict[str, Any], header: bool = True) -> str:
    """Readable YAML for a draft (hand-laid so texts stay one per line)."""
    q = lambda value: json.dumps(value, ensure_ascii=False)  # noqa: E731 - JSON strings are YAML
    lines = ["# Draft hypothesis from `neurontest inspect`: fires_on is the simplest predicate with the",
             "# highest F1 the search found (token sets, token classes, contexts, at a few thresholds);",
             f"# each bound sits {BOUND_MARGIN:g}-{BOUND_MARGIN + 0.01:g} below the value it measured (raised by 0.1, it",
             "# fails), and the example texts were checked on this model. Review before use."]
    if draft.get("split") == "confirm":
        lines.append("# It was drafted on the corpus's explore half and is tested on the confirm half.")
    lines = lines if header else []
    for key in ("model", "revision", "corpus", "corpus_tokens", "window", "split"):
        if key in draft:
            lines.append(f"{key}: {q(draft[key])}")
    lines.append("neurons:")
    unit_keys = ("id", "sae", "latent", "direction", "hook")  # claims/unit_entries.py `unit_entry`
    for entry in draft["neurons"]:
        named = [(key, entry[key]) for key in unit_keys if key in entry]
        lines += [f"  {'- ' if i == 0 else '  '}{key}: {value if key == 'id' else q(value)}"
                  for i, (key, value) in enumerate(named)]
        lines.append(f"    description: {q(entry['description'])}")
        if "fires_on" in entry:
            lines.append(f"    fires_on: {q(entry['fires_on'])}")
        if "threshold" in entry:
            lines.append(f"    threshold: {{relative: {entry['threshold']['relative']}}}")
        lines.append("    claims:" if entry["claims"] else "    claims: []")
        for claim in entry["claims"]:
            lines.append(f"      - kind: {claim['kind']}")
            for key, value in claim.items():
                if key == "kind":
                    continue
                if isinstance(value, list):
                    lines.append(f"        {key}:")
                    lines += [f"          - {q(text)}" for text in value]
                else:
                    lines.append(f"        {key}: {q(value)}")
    return "\n".join(lines) + "\n"
