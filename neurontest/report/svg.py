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


def histogram_svg(
    counts: Sequence[int],
    edges: Sequence[float],
    *,
    marker: float | None = None,
    width: int = 420,
    height: int = 110,
    label: str = "",
) -> str:
    """Bars of `counts` (log-scaled heights, so rare strong activations stay visible) over
    `edges` (len(counts) + 1), with an optional dashed vertical `marker` (e.g. the threshold)."""
    if not counts or len(edges) != len(counts) + 1:
        return ""
    pad_l, pad_b, pad_t = 4, 18, 4
    plot_w, plot_h = width - 2 * pad_l, height - pad_b - pad_t
    lo, hi = float(edges[0]), float(edges[-1])
    span = (hi - lo) or 1.0
    top = math.log1p(max(counts)) or 1.0
    bar_w = plot_w / len(counts)
    parts = [
        # No xmlns: inline SVG in HTML needs none, and the page must name no URL at all.
        f'<svg class="hist" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label or "histogram")}">'
    ]
    for i, n in enumerate(counts):
        if n <= 0:
            continue
        h = plot_h * math.log1p(n) / top
        x = pad_l + i * bar_w
        tip = f"[{edges[i]:.3g}, {edges[i + 1]:.3g}): {n}"
        parts.append(
            f'<rect x="{x:.1f}" y="{pad_t + plot_h - h:.1f}" width="{max(bar_w - 1, 0.5):.1f}" '
            f'height="{h:.1f}" fill="#4a6fa5"><title>{escape(tip)}</title></rect>'
        )
    base = pad_t + plot_h
    parts.append(f'<line x1="{pad_l}" y1="{base}" x2="{width - pad_l}" y2="{base}" stroke="#888"/>')
    if marker is not None and lo <= marker <= hi:
        mx = pad_l + plot_w * (marker - lo) / span
        parts.append(
            f'<line x1="{mx:.1f}" y1="{pad_t}" x2="{mx:.1f}" y2="{base}" stroke="#b2182b" '
            f'stroke-dasharray="3,2"><title>{escape(f"threshold {marker:.3g}")}</title></line>'
        )
    text_y = height - 5
    parts.append(f'<text x="{pad_l}" y="{text_y}" font-size="10">{lo:.3g}</text>')
    parts.append(f'<text x="{width - pad_l}" y="{text_y}" font-size="10" text-anchor="end">{hi:.3g}</text>')
    parts.append("</svg>")
    return "".join(parts)
