"""Charts drawn on the server as inline SVG: no script, no CDN, so the pages work offline.

A stacked bar per time bucket, one colour per series, each colour named in a legend beside
it (colour is never the only way to tell), and a `<title>` on every bar segment that says
what it counts, for a pointer or a screen reader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from markupsafe import Markup, escape

PALETTE = ("#0969da", "#1a7f37", "#bf8700", "#cf222e", "#8250df", "#1b7c83", "#bc4c00", "#57606a", "#a40e26")
OUTCOME_COLOURS = {"succeeded": "#1a7f37", "failed": "#bf8700", "dead": "#cf222e"}

WIDTH, HEIGHT, AXIS = 640, 160, 28


def colours_for(names: Sequence[str]) -> dict[str, str]:
    return {name: OUTCOME_COLOURS.get(name, PALETTE[i % len(PALETTE)]) for i, name in enumerate(names)}


def stacked_bars(
    title: str,
    buckets: Sequence[datetime],
    series: Mapping[str, Sequence[int]],
    colours: Mapping[str, str],
    label: str = "%H:%M",
) -> Markup:
    """An SVG of `series` (name → one count per bucket) stacked per bucket, with a legend."""
    total = [sum(values[i] for values in series.values()) for i in range(len(buckets))]
    top = max(total, default=0) or 1
    slot = (WIDTH - AXIS) / max(1, len(buckets))
    bar = max(1.0, slot * 0.8)
    parts = [
        # Scaled as a whole (no preserveAspectRatio="none"): stretched to the box, the axis text was too.
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 20}" role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="12" class="axis">{top}</text><text x="0" y="{HEIGHT}" class="axis">0</text>',
    ]
    for i, start in enumerate(buckets):
        x = AXIS + i * slot
        y = float(HEIGHT)
        for name, values in series.items():
            if not values[i]:
                continue
            height = values[i] / top * (HEIGHT - 16)
            y -= height
            tip = f"{start:%Y-%m-%d %H:%M} UTC: {values[i]} {name}"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{colours[name]}"><title>{escape(tip)}</title></rect>'
            )
        if len(buckets) <= 12 or i % max(1, len(buckets) // 6) == 0:
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT + 16}" class="axis">{start.strftime(label)}</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="swatch" style="background:{colours[name]}"></span>{escape(name)}: '
        f"{sum(values)}</li>"
        for name, values in series.items()
    )
    return Markup("".join(parts) + f'<ul class="legend">{legend}</ul>')  # noqa: S704 - every text is escaped


def sparkline(values: Sequence[float | None], label: str, width: int = 120, height: int = 24) -> Markup:
    """A small line of `values` (None: no data in that bucket), for a table cell."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if not points:
        return Markup('<span class="muted">no data</span>')
    top = max(v for _, v in points) or 1
    step = width / max(1, len(values) - 1)
    xy = [(i * step, height - 2 - v / top * (height - 4)) for i, v in points]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    # A line needs two points; one alone is drawn as a dot, so a single busy hour still shows.
    dots = (
        "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="#0969da"/>' for x, y in xy)
        if len(xy) == 1
        else ""
    )
    return Markup(  # noqa: S704 - the label is escaped, the rest are numbers
        f'<svg class="spark" width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        f'<polyline fill="none" stroke="#0969da" stroke-width="1.5" points="{path}"/>{dots}</svg>'
    )
