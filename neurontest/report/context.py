"""The report as plain data: a dict the templates render. Pure: reads the session, writes nothing.

Heatmaps are capped (rows per evidence, tokens per row around the marked token) so a report of a
whole suite stays a few MB; colours are bucketed into CSS classes for the same reason.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from neurontest.report.svg import bucket, histogram_svg

if TYPE_CHECKING:
    import torch

    from neurontest.claims.base import ClaimResult, Evidence, Measurement, TokenRow
    from neurontest.report.records import ClaimRecord, RunState

MAX_ROWS = 8
MAX_TOKENS = 64
MAX_TABLE_ROWS = 50
MAX_MESSAGE = 20_000
#: Token spans in a whole report (about 35 bytes each); past it heatmaps shrink, collapsed ones first.
TOKEN_BUDGET = 100_000
# (rows, tokens) caps for (open cards, collapsed cards), tried in order until the budget holds.
_CAP_LEVELS = [((5, 48), (2, 24)), ((3, 32), (1, 16)), ((2, 24), (1, 16))]
OUTCOMES = ["error", "failed", "xpassed", "drifted", "pending", "passed", "xfailed", "skipped"]
OPEN_OUTCOMES = {"error", "failed", "xpassed", "drifted"}


def fmt(value: float) -> str:
    """The one number format of the report (also the heatmap's title attribute)."""
    return f"{value:.4g}"


def token_text(token: str) -> str:
    """A token as shown: newlines as ⏎, tabs as ⇥, an empty token as ∅ (HTML escaping is Jinja's)."""
    if token == "":
        return "∅"
    return token.replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎").replace("\t", "⇥")


def _window(row: TokenRow, max_tokens: int) -> tuple[int, int]:
    n = len(row.str_tokens)
    if n <= max_tokens:
        return 0, n
    focus = min(row.marked) if row.marked else 0
    # Context before the mark matters more to a causal model than what follows it.
    start = max(0, min(focus - (max_tokens * 3) // 4, n - max_tokens))
    return start, start + max_tokens


def shown_scale(evidence: list[Evidence], *, max_rows: int = MAX_ROWS,
                max_tokens: int = MAX_TOKENS) -> dict[str, float]:
    """One colour scale per unit (`value_label`) for all of a claim's heatmaps: the largest
    |value| shown in any of them, so equal colours mean equal values across the claim's groups."""
    scales: dict[str, float] = {}
    for group in evidence:
        for row in group.rows[:max_rows]:
            start, stop = _window(row, max_tokens)
            values = [abs(float(v)) for v in row.values[start:stop] if math.isfinite(float(v))]
            scales[group.value_label] = max([scales.get(group.value_label, 0.0), *values])
    return scales


def _tau_mark(tau: float | None, scale: float) -> dict[str, str] | None:
    """Where tau sits on the legend's -scale..+scale bar (None when it is off the bar)."""
    if tau is None or not math.isfinite(tau) or scale <= 0 or abs(tau) > scale:
        return None
    return {"left": f"{50 + 50 * tau / scale:.1f}%", "value": fmt(tau)}


def heatmap_context(evidence: Evidence, *, max_rows: int = MAX_ROWS, max_tokens: int = MAX_TOKENS,
                    trimmed: bool = False, scale: float | None = None,
                    tau: float | None = None) -> dict[str, Any] | None:
    """Heatmap rows of one Evidence on a colour scale symmetric around 0 (None: no rows).

    `scale`: the claim's shared scale (`shown_scale`), else this group's own largest |value|;
    `tau` is marked on the legend. A text is drawn as text: its tokens joined, boundaries thin
    borders (templates/_style.html.j2), a leading space shown as a space."""
    rows = evidence.rows[:max_rows]
    if not rows:
        return None
    shown: list[dict[str, Any]] = []
    finite: list[float] = []
    for row in rows:
        start, stop = _window(row, max_tokens)
        marked = set(row.marked)
        tokens = []
        for i in range(start, min(stop, len(row.str_tokens))):
            value = float(row.values[i]) if i < len(row.values) else float("nan")
            if math.isfinite(value):
                finite.append(value)
            tokens.append({"text": token_text(row.str_tokens[i]), "value": value,
                           "title": fmt(value), "marked": i in marked, "piece": False})
            piece = row.pieces[i] if i < len(row.pieces) else ""
            if piece:  # a byte piece merged into a character: hover names the token itself
                tokens[-1] |= {"title": f"{fmt(value)} {piece}", "piece": True}
                if not row.str_tokens[i]:
                    tokens[-1]["text"] = ""  # not ∅: the character shows on a later piece
        shown.append({"label": row.label, "tokens": tokens, "cut_left": start > 0,
                      "cut_right": stop < len(row.str_tokens)})
    if scale is None:
        scale = max((abs(v) for v in finite), default=0.0)
    for row_ctx in shown:
        for token in row_ctx["tokens"]:
            token["cls"] = f"h{bucket(token.pop('value'), scale)}"
    return {
        "title": evidence.title, "value_label": evidence.value_label, "rows": shown,
        "hidden_rows": len(evidence.rows) - len(rows), "scale": fmt(scale),
        "neg_scale": fmt(-scale), "min": fmt(min(finite, default=0.0)),
        "max": fmt(max(finite, default=0.0)), "trimmed": trimmed,
        "tau": _tau_mark(tau, scale),
    }


def table_context(evidence: Evidence, *, max_rows: int = MAX_TABLE_ROWS) -> dict[str, Any] | None:
    """A (token, value) table of one Evidence (None: no table)."""
    if not evidence.table:
        return None
    return {
        "title": evidence.title, "value_label": evidence.value_label,
        "rows": [{"token": token_text(t), "value": fmt(v)} for t, v in evidence.table[:max_rows]],
        "hidden_rows": max(0, len(evidence.table) - max_rows),
    }


def measurement_context(m: Measurement) -> dict[str, Any]:
    interval = "" if m.interval is None else f"{fmt(m.interval[0])} – {fmt(m.interval[1])}"
    bound = "" if m.bound is None else str(m.bound) + (" (whole CI)" if m.confident else "")
    return {"name": m.name, "value": fmt(m.value), "bound": bound,
            "checked": m.bound is not None, "passed": m.passed, "interval": interval,
            "level": f"{m.level:.0%}", "detail": m.detail,
            "chance": m.chance_text(), "p_value": "" if m.p_value is None else f"{m.p_value:.2g}",
            "thin": m.thin}


def result_context(result: ClaimResult, *, max_rows: int = MAX_ROWS, max_tokens: int = MAX_TOKENS,
                   trimmed: bool = False) -> dict[str, Any]:
    """Summary, measurements, heatmaps and tables of one claim result."""
    scales = shown_scale(result.evidence, max_rows=max_rows, max_tokens=max_tokens)
    # tau is an activation level: marked only on scales of activations, not of changes.
    heatmaps = [heatmap_context(e, max_rows=max_rows, max_tokens=max_tokens, trimmed=trimmed,
                                scale=scales.get(e.value_label),
                                tau=result.tau if e.value_label == "activation" else None)
                for e in result.evidence]
    tables = [table_context(e) for e in result.evidence]
    return {
        "summary": result.summary,
        "measurements": [measurement_context(m) for m in result.measurements],
        "extra_failures": list(result.extra_failures),
        "inconclusive": getattr(result, "inconclusive", ""),
        "invalid": getattr(result, "invalid", ""),
        "advice": list(getattr(result, "advice", [])),
        "heatmaps": [h for h in heatmaps if h is not None],
        "tables": [t for t in tables if t is not None],
    }


def histogram_context(values: torch.Tensor, *, title: str, bins: int = 40,
                      share: float = 0.25, tau: float | None = None) -> dict[str, Any]:
    """Histogram (inline SVG) and basic statistics of 1-D activations; the marker is the claim's
    `tau` when given, else share x max."""
    import torch

    values = values.detach().float().flatten().cpu()
    values = values[torch.isfinite(values)]
    if values.numel() == 0:
        return {"title": title, "svg": "", "counts": [], "edges": [], "stats": {}}
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts = [int(c) for c in torch.histc(values, bins=bins, min=lo, max=hi).tolist()]
    edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
    top = float(values.max())
    marker_label = "tau"
    if tau is None:
        tau, marker_label = (share * top if top > 0 else None), f"{share:g} x max"
    above = float((values > tau).float().mean()) if tau is not None else 0.0
    stats = {"n": int(values.numel()), "max": top, "mean": float(values.mean()),
             "min": float(values.min()), "share_above": above, "share": share}
    svg = histogram_svg(counts, edges, marker=tau, marker_label=marker_label, label=title)
    text = {k: fmt(v) for k, v in stats.items()}
    text["n"] = f"{stats['n']:,}"  # "100,026 tokens", not "1e+05 tokens"
    text["share_above"] = f"{above:.2%}"
    text["marker"] = f"{marker_label} = {fmt(tau)}" if tau is not None else ""
    return {"title": title, "svg": svg, "counts": counts, "edges": edges, "stats": stats,
            "stats_text": text}


def _matching_lab(described: list[tuple[Any, dict[str, Any]]], info: dict[str, Any]) -> Any:
    fingerprint = info.get("model", {}).get("fingerprint")
    corpus = info.get("corpus", {}).get("fingerprint")
    for lab, desc in described:
        if fingerprint is None or desc.get("model", {}).get("fingerprint") != fingerprint:
            continue
        if corpus and desc.get("corpus", {}).get("fingerprint") not in (None, corpus):
            continue
        return lab
    return None


def _neuron_histogram(described: list[tuple[Any, dict[str, Any]]], record: ClaimRecord,
                      cache: dict[tuple[int, str], Any]) -> dict[str, Any] | None:
    """Corpus histogram of the record's neuron, only from activations already mined."""
    from neurontest.engine.units.neuron import NeuronRef

    lab = _matching_lab(described, record.lab)
    if lab is None:
        return None
    key = (id(lab), record.neuron)
    if key not in cache:
        cache[key] = None
        try:
            ref = NeuronRef.parse(record.neuron)
            # Memory or the disk cache only (a warm run may have read none): a report must never
            # start model work.
            if lab.mined(ref) is not None:
                corpus = record.lab.get("corpus", {}).get("name", "corpus")
                tau = record.result.tau if record.result is not None else None
                cache[key] = histogram_context(lab.scorable(ref), title=f"{ref} on {corpus}", tau=tau)
        except Exception:  # a histogram is a nicety; never lose the report over one
            cache[key] = None
    return cache[key]


def _short_path(record: ClaimRecord) -> str:
    """The file as pytest names it (relative to the rootdir) when the nodeid allows."""
    relative = record.nodeid.split("::", 1)[0]
    return relative if relative and str(record.file).endswith(relative) else str(record.file)


def record_context(record: ClaimRecord, index: int, *, histogram: dict[str, Any] | None = None,
                   max_rows: int = MAX_ROWS, max_tokens: int = MAX_TOKENS,
                   trimmed: bool = False) -> dict[str, Any]:
    """Everything one claim's card shows."""
    message = record.message or ""
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "\n… (truncated)"
    card: dict[str, Any] = {
        "id": f"claim-{index}", "nodeid": record.nodeid, "outcome": record.outcome,
        "kind": record.kind, "neuron": record.neuron, "location": f"{_short_path(record)}:{record.line}",
        "duration": (f"{record.duration:.2f} s" if record.result is None or not record.result.cached
                     else "remembered from an earlier run"),
        "open": record.outcome in OPEN_OUTCOMES,
        "message": message, "histogram": histogram, "histogram_ref": "",
        "model": record.lab.get("model", {}).get("fingerprint", ""),
        # which half of the corpus documents the verdict rests on (docs/hypothesis-format.md)
        "split": record.lab.get("corpus", {}).get("split", "all"),
        "summary": "", "measurements": [], "extra_failures": [], "heatmaps": [], "tables": [],
        "heading": "",
    }
    if record.result is not None:
        card.update(result_context(record.result, max_rows=max_rows, max_tokens=max_tokens,
                                   trimmed=trimmed))
    # The other claims a Python test made (the `neuron` fixture), each with its own evidence.
    card["more"] = [result_context(r, max_rows=max_rows, max_tokens=max_tokens, trimmed=trimmed)
                    | {"heading": f"{r.neuron.short_id} {r.kind}", "passed": r.passed}
                    for r in record.more_results]
    if record.more_results and record.result is not None:
        card["heading"] = f"{record.result.neuron.short_id} {record.result.kind}"
    return card


def _cost(record: ClaimRecord, caps: tuple[int, int]) -> int:
    rows, tokens = caps
    results = [record.result, *record.more_results] if record.result is not None else []
    return sum(min(len(r.str_tokens), tokens) for res in results for e in res.evidence
               for r in e.rows[:rows])


def _caps(records: list[ClaimRecord], max_rows: int, max_tokens: int,
          budget: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(rows, tokens) caps for open and for collapsed cards that keep the report in budget."""
    full = (max_rows, max_tokens)
    levels = [(full, full)] + [((min(a, max_rows), min(b, max_tokens)), (min(c, max_rows), min(d, max_tokens)))
                               for (a, b), (c, d) in _CAP_LEVELS]
    for open_caps, closed_caps in levels:
        total = sum(_cost(r, open_caps if r.outcome in OPEN_OUTCOMES else closed_caps) for r in records)
        if total <= budget:
            break
    return open_caps, closed_caps


def _models(state: RunState, described: list[tuple[Any, dict[str, Any]]]) -> list[dict[str, Any]]:
    seen: dict[tuple[Any, Any], dict[str, Any]] = {}
    infos = [desc for _, desc in described] + [r.lab for r in state.records.values() if r.lab]
    for info in infos:
        model, corpus = info.get("model", {}), info.get("corpus", {})
        key = (model.get("fingerprint"), corpus.get("fingerprint"))
        if key not in seen:
            seen[key] = {"model": model, "corpus": corpus}
    return list(seen.values())


def _neuron_order(neuron: str) -> tuple[int, int, str]:
    from neurontest.engine.units.neuron import NeuronRef

    try:
        ref = NeuronRef.parse(neuron)
    except ValueError:  # heads, SAE latents, directions: after the neurons, by name
        return (1 << 30, 0, neuron)
    return (ref.layer, ref.index, neuron)


def build_report_context(state: RunState, *, now: float | None = None,
                         max_rows: int = MAX_ROWS, max_tokens: int = MAX_TOKENS,
                         token_budget: int = TOKEN_BUDGET) -> dict[str, Any]:
    """The run report's data: summary, filters and one card per claim, failures first."""
    now = time.time() if now is None else now
    described = []
    for lab in state.labs.values():
        try:
            described.append((lab, lab.describe()))
        except Exception:  # a lab whose model failed mid-run still leaves its claims reportable
            continue
    order = {outcome: i for i, outcome in enumerate(OUTCOMES)}
    records = sorted(enumerate(state.records.values()),
                     key=lambda item: (order.get(item[1].outcome, len(order)), item[0]))
    caps = _caps([r for _, r in records], max_rows, max_tokens, token_budget)
    cache: dict[tuple[int, str], Any] = {}
    shown_in: dict[int, str] = {}  # id(histogram) -> the card that shows it
    cards = []
    for index, record in records:
        histogram = None
        if record.outcome in ("failed", "error") and record.lab:
            histogram = _neuron_histogram(described, record, cache)
        rows, tokens = caps[0] if record.outcome in OPEN_OUTCOMES else caps[1]
        card = record_context(record, index, max_rows=rows, max_tokens=tokens,
                              trimmed=(rows, tokens) != (max_rows, max_tokens))
        if histogram is not None and id(histogram) in shown_in:
            card["histogram_ref"] = shown_in[id(histogram)]  # one histogram per neuron, linked
        elif histogram is not None:
            card["histogram"] = histogram
            shown_in[id(histogram)] = card["id"]
        cards.append(card)
    counts = state.counts()
    return {
        "title": "neurontest report",
        "generated": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)),
        "duration": f"{max(0.0, now - state.started):.1f} s",
        "models": _models(state, described),
        "counts": [{"outcome": o, "n": counts[o]} for o in OUTCOMES if counts.get(o)]
                  + [{"outcome": o, "n": n} for o, n in sorted(counts.items()) if o not in order],
        "total": sum(counts.values()),
        "neurons": sorted({c["neuron"] for c in cards}, key=_neuron_order),
        "kinds": sorted({c["kind"] for c in cards}),
        "cards": cards,
        # The run's error control (family, method, passes that survive), when it has one.
        "verdict_lines": list(getattr(state, "family_lines", lambda: [])()),
        "phases": phases_context(getattr(state, "clock", None), max(0.0, now - state.started)),
    }


def phases_context(clock: Any, wall: float) -> list[dict[str, Any]]:
    """Where the run's time went (neurontest.engine.progress.PhaseClock), as bar-chart rows."""
    if clock is None:
        return []
    rows = clock.times.rows(wall)
    longest = max((seconds for _, seconds, _ in rows), default=0.0)
    return [{"phase": phase, "seconds": f"{seconds:,.1f} s", "note": note,
             "width": f"{100 * seconds / longest:.1f}" if longest > 0 else "0"}
            for phase, seconds, note in rows]
