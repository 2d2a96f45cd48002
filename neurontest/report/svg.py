"""Small inline-graphics helpers: the heatmap's diverging colour scale and an SVG histogram.

Everything here returns plain strings (CSS, SVG markup) so the HTML stays self-contained.
"""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

#: Buckets on each side of 0; a heatmap token gets class `h{bucket + LEVELS}` (h0..h{2*LEVELS}).
LEVELS = 8

# ColorBrewer RdBu stops: blue for negative, near-white at 0, red for positive.
_NEG = [(0.0, (247, 247, 247)), (0.5, (146, 197, 222)), (1.0, (33, 102, 172))]
_POS = [(0.0, (247, 247, 247)), (0.5, (244, 165, 130)), (1.0, (178, 24, 43))]


def _interpolate(stops: list[tuple[float, tuple[int, int, int]]], t: float) -> tuple[int, int, int]:
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            return tuple(round(a + (b - a) * f) for a, b in zip(c0, c1))  # type: ignore[return-value]
    return stops[-1][1]


def diverging_colour(t: float) -> str:
    """Hex colour for `t` in [-1, 1] (clipped): blue below 0, white at 0, red above."""
    t = 0.0 if math.isnan(t) else max(-1.0, min(1.0, t))
    r, g, b = _interpolate(_NEG if t < 0 else _POS, abs(t))
    return f"#{r:02x}{g:02x}{b:02x}"


def bucket(value: float, scale: float) -> int:
    """The colour class index (0..2*LEVELS) of `value` on a scale symmetric around 0."""
    if not math.isfinite(value) or scale <= 0:
        return LEVELS
    step = round(max(-1.0, min(1.0, value / scale)) * LEVELS)
    return int(step) + LEVELS


def heat_css(prefix: str = ".nt") -> str:
    """CSS rules for the heatmap colour classes (dark buckets get light text)."""
    rules = []
    for i in range(2 * LEVELS + 1):
        t = (i - LEVELS) / LEVELS
        ink = ";color:#fff" if abs(t) >= 0.75 else ""
        rules.append(f"{prefix} .h{i}{{background:{diverging_colour(t)}{ink}}}")
    return "\n".join(rules)


def legend_gradient() -> str:
    """A CSS linear-gradient running the scale from -1 to +1."""
    stops = [diverging_colour(t / 4) for t in range(-4, 5)]
    return f"linear-gradient(90deg,{','.join(stops)})"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round tick values (1, 2 or 5 x 10^k apart) covering [lo, hi]."""
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return [lo]
    raw = span / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = min((m * power for m in (1, 2, 5, 10)), key=lambda st: abs(math.log(st / raw)))
    first = math.ceil(lo / step) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def histogram_svg(
    counts: Sequence[int],
    edges: Sequence[float],
    *,
    marker: float | None = None,
    marker_label: str = "tau",
    width: int = 460,
    height: int = 170,
    label: str = "",
    value_label: str = "activation",
) -> str:
    """Bars of `counts` over `edges` (len(counts) + 1) with both axes: x in activation units with
    round tick labels, y in tokens on a log scale (rare strong activations stay visible) with
    ticks at powers of 10, and an optional dashed vertical `marker` labelled (tau)."""
    if not counts or len(edges) != len(counts) + 1:
        return ""
    pad_l, pad_r, pad_b, pad_t = 46, 10, 34, 16
    plot_w, plot_h = width - pad_l - pad_r, height - pad_b - pad_t
    lo, hi = float(edges[0]), float(edges[-1])
    span = (hi - lo) or 1.0
    top = math.log10(max(max(counts), 1)) + 1  # log10(count) + 1: a single token is a visible bar
    top = math.ceil(top)
    base = pad_t + plot_h

    def x_of(value: float) -> float:
        return pad_l + plot_w * (value - lo) / span

    def y_of(count: float) -> float:
        return base - plot_h * (math.log10(count) + 1) / top if count > 0 else base

    bar_w = plot_w / len(counts)
    parts = [
        # No xmlns: inline SVG in HTML needs none, and the page must name no URL at all.
        f'<svg class="hist" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label or "histogram")}">'
    ]
    for power in range(0, top):  # y grid and ticks: 1, 10, 100, ...
        y = y_of(10 ** power)
        parts.append(f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - pad_r}" y2="{y:.1f}" '
                     f'stroke="#e4e7ec"/>')
        parts.append(f'<text x="{pad_l - 4}" y="{y + 3:.1f}" font-size="10" '
                     f'text-anchor="end">{10 ** power:,}</text>')
    for i, n in enumerate(counts):
        if n <= 0:
            continue
        y = y_of(n)
        tip = f"[{edges[i]:.3g}, {edges[i + 1]:.3g}): {n:,} tokens"
        parts.append(
            f'<rect x="{pad_l + i * bar_w:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 0.5):.1f}" '
            f'height="{base - y:.1f}" fill="#4a6fa5"><title>{escape(tip)}</title></rect>'
        )
    parts.append(f'<line x1="{pad_l}" y1="{base}" x2="{width - pad_r}" y2="{base}" stroke="#667085"/>')
    parts.append(f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{base}" stroke="#667085"/>')
    for tick in nice_ticks(lo, hi):
        x = x_of(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" stroke="#667085"/>')
        parts.append(f'<text x="{x:.1f}" y="{base + 15}" font-size="10" '
                     f'text-anchor="middle">{tick:g}</text>')
    parts.append(f'<text x="{pad_l + plot_w / 2:.1f}" y="{height - 3}" font-size="10" '
                 f'text-anchor="middle">{escape(value_label)}</text>')
    parts.append(f'<text x="10" y="{pad_t + plot_h / 2:.1f}" font-size="10" text-anchor="middle" '
                 f'transform="rotate(-90 10 {pad_t + plot_h / 2:.1f})">tokens (log)</text>')
    if marker is not None and lo <= marker <= hi:
        mx = x_of(marker)
        text = f"{marker_label} {marker:.3g}"
        parts.append(
            f'<line x1="{mx:.1f}" y1="{pad_t - 4}" x2="{mx:.1f}" y2="{base}" stroke="#b2182b" '
            f'stroke-width="1.5" stroke-dasharray="4,2"><title>{escape(text)}</title></line>'
        )
        anchor = "end" if mx > pad_l + plot_w * 0.8 else "start"
        dx = -3 if anchor == "end" else 3
        parts.append(f'<text x="{mx + dx:.1f}" y="{pad_t - 5}" font-size="10" fill="#b2182b" '
                     f'text-anchor="{anchor}">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)
