"""The storm's timeline as an SVG written by hand (no plotting library at run time).

Accepted ``PutParameter`` calls in each second, one step line per delivery,
against the account's limit (a dashed line); the y axis is writes per second.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 50, 20, 30, 40
COLOURS = ("#d62728", "#1f77b4", "#2ca02c")


def timeline(series: Sequence[tuple[str, Sequence[int]]], limit: float, title: str) -> str:
    """An SVG of ``series`` (label, writes in each second) and the ``limit`` line."""
    seconds = max((len(values) for _, values in series), default=1) or 1
    top = max([limit + 1, *(max(values, default=0) + 1 for _, values in series)])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + plot_w * t / seconds

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="14">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{y(0)}" x2="{WIDTH - RIGHT}" y2="{y(0)}" stroke="black"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{y(0)}" stroke="black"/>',
    ]
    for v in range(0, int(top) + 1):
        parts.append(f'<text x="{LEFT - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    step = 10 if seconds <= 150 else 30
    for t in range(0, seconds + 1, step):
        parts.append(f'<text x="{x(t):.1f}" y="{y(0) + 16:.1f}" text-anchor="middle">{t}</text>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
        "seconds since the first build finished</text>"
    )
    parts.append(
        f'<line x1="{LEFT}" y1="{y(limit):.1f}" x2="{WIDTH - RIGHT}" y2="{y(limit):.1f}" '
        'stroke="black" stroke-dasharray="6 4"/>'
        f'<text x="{WIDTH - RIGHT}" y="{y(limit) - 4:.1f}" text-anchor="end">'
        f"SSM limit {limit:g} writes/s</text>"
    )
    for n, (label, values) in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        points = []
        for t, v in enumerate(values):
            points += [f"{x(t):.1f},{y(v):.1f}", f"{x(t + 1):.1f},{y(v):.1f}"]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
            f'points="{" ".join(points)}"/>'
        )
        parts.append(
            f'<text x="{LEFT + 10}" y="{TOP + 16 + 16 * n}" fill="{colour}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
