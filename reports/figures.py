"""Server-rendered SVG plots: readable without JavaScript, no CDN, stored in the snapshot.

Plain string building (no plotting library): the figures are simple and drawing them is a few
hundred microseconds. Every text passes through `escape`. Colours are presentation attributes,
not inline style, so a strict Content-Security-Policy still renders them.
"""

from __future__ import annotations

from html import escape
from typing import Any

FONT = 'font-family="system-ui, sans-serif" font-size="12"'
INK, MUTED, GRID = "#e8e8e8", "#999999", "#444444"
ACCENT, CLAIM, FLAG = "#4aa3ff", "#f39c12", "#e74c3c"


def _x(value: float, left: float, width: float) -> float:
    return left + max(0.0, min(1.0, value)) * width


def forest_plot(
    rows: list[dict[str, Any]], title: str = "Accuracy by label (95% CI)", claims: bool = True
) -> str:
    """One row per label: the point estimate and its interval, the paper's claim as a diamond,
    a red row label where the claim lies outside the interval.

    rows: {"name", "value", "low", "high", "claim", "flag", "n"} (value None: nothing read).
    """
    left, width, row_h, top = 190, 420, 22, 34
    height = top + row_h * max(len(rows), 1) + 34
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="figure forest" role="img" '
        f'viewBox="0 0 {left + width + 70} {height}" width="{left + width + 70}" height="{height}" {FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="4" y="16" fill="{INK}" font-weight="bold">{escape(title)}</text>',
    ]
    axis_y = top + row_h * max(len(rows), 1)
    for tick in range(0, 11, 2):
        x = _x(tick / 10, left, width)
        out.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{axis_y}" stroke="{GRID}"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{axis_y + 14}" fill="{MUTED}" text-anchor="middle">{tick * 10}%</text>'
        )
    for index, row in enumerate(rows):
        y = top + row_h * index + row_h / 2
        colour = FLAG if row.get("flag") else INK
        label = f"{row['name']} (n={row.get('n', 0)})"
        out.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" fill="{colour}" text-anchor="end">{escape(label)}</text>'
        )
        if row.get("value") is None:
            out.append(f'<text x="{left + 4}" y="{y + 4:.1f}" fill="{MUTED}">not read yet</text>')
            continue
        low, high = row.get("low"), row.get("high")
        if low is not None and high is not None:
            out.append(
                f'<line x1="{_x(low, left, width):.1f}" y1="{y:.1f}" x2="{_x(high, left, width):.1f}" '
                f'y2="{y:.1f}" stroke="{ACCENT}" stroke-width="2"/>'
            )
        point = _x(row["value"], left, width)
        out.append(f'<circle cx="{point:.1f}" cy="{y:.1f}" r="4" fill="{ACCENT}"/>')
        tip = f"{row['name']}: {row['value']:.1%}"
        if low is not None and high is not None:
            tip += f" ({low:.1%} to {high:.1%})"
        if row.get("claim") is not None:
            cx = _x(row["claim"], left, width)
            out.append(
                f'<path d="M{cx:.1f} {y - 6:.1f} L{cx + 5:.1f} {y:.1f} L{cx:.1f} {y + 6:.1f} '
                f'L{cx - 5:.1f} {y:.1f} Z" fill="none" stroke="{CLAIM}" stroke-width="2"/>'
            )
            tip += f"; claimed {row['claim']:.1%}"
        out.append(
            f'<text x="{left + width + 8}" y="{y + 4:.1f}" fill="{MUTED}">{row["value"]:.0%}'
            f"<title>{escape(tip)}</title></text>"
        )
    legend_y = height - 6
    out.append(
        f'<circle cx="{left}" cy="{legend_y - 4}" r="4" fill="{ACCENT}"/>'
        f'<text x="{left + 8}" y="{legend_y}" fill="{MUTED}">accuracy, 95% CI</text>'
    )
    if claims:
        out.append(
            f'<path d="M{left + 170} {legend_y - 10} l5 6 l-5 6 l-5 -6 Z" fill="none" stroke="{CLAIM}" stroke-width="2"/>'
            f'<text x="{left + 180}" y="{legend_y}" fill="{MUTED}">paper\'s claim (red label: outside the CI)</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _heat_colour(value: float | None) -> str:
    """Kappa from -1..1 on a blue (agreement) / red (disagreement) scale; grey when undefined."""
    if value is None:
        return "#333333"
    v = max(-1.0, min(1.0, value))
    if v >= 0:
        return f"rgb({int(40 + 20 * (1 - v))},{int(60 + 100 * v)},{int(80 + 175 * v)})"
    return f"rgb({int(80 + 175 * -v)},{int(60 * (1 + v))},{int(60 * (1 + v))})"


def heatmap(names: list[str], values: list[list[float | None]], title: str) -> str:
    """Square matrix of reader-pair kappa; the diagonal is left blank, undefined cells grey."""
    n = len(names)
    cell, left, top = 38, 130, 40 + 8 * max((len(name) for name in names), default=0) // 2
    # Wide enough for the title whatever the number of readers (~7 px per character).
    size_w, size_h = max(left + cell * n + 10, 7 * len(title) + 10), top + cell * n + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="figure heatmap" role="img" '
        f'viewBox="0 0 {size_w} {size_h}" width="{size_w}" height="{size_h}" {FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="4" y="16" fill="{INK}" font-weight="bold">{escape(title)}</text>',
    ]
    for i, name in enumerate(names):
        y = top + cell * i + cell / 2 + 4
        out.append(
            f'<text x="{left - 6}" y="{y:.1f}" fill="{INK}" text-anchor="end">{escape(name)}</text>'
        )
        x = left + cell * i + cell / 2
        out.append(
            f'<text x="{x:.1f}" y="{top - 6}" fill="{INK}" text-anchor="start" '
            f'transform="rotate(-45 {x:.1f} {top - 6})">{escape(name)}</text>'
        )
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            value = values[i][j]
            x, y = left + cell * j, top + cell * i
            text = "n/a" if value is None else f"{value:.2f}"
            tip = f"{names[i]} vs {names[j]}: kappa {text}"
            out.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{_heat_colour(value)}">'
                f"<title>{escape(tip)}</title></rect>"
                f'<text x="{x + cell / 2 - 1:.1f}" y="{y + cell / 2 + 3:.1f}" fill="{INK}" '
                f'font-size="10" text-anchor="middle">{text}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def reader_bars(rows: list[dict[str, Any]], title: str = "Accuracy by reader (95% CI)") -> str:
    """Per reader pooled accuracy with its interval: the forest plot layout, no claims."""
    return forest_plot(
        [{**row, "claim": None, "flag": False} for row in rows],
        title=title,
        claims=False,
    )
