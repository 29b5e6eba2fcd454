"""ROC curves drawn as inline SVG on the server: no JavaScript, no CDN, prints and saves with
the page. Coordinates are computed here; the template only inserts the markup."""

from collections.abc import Sequence

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

SIZE = 300  # plot area, px
MARGIN = 40
COLOURS = {"all": "#888888", "dataset": "#4aa3ff", "readers": "#f39c12"}


def _xy(fpr: float, tpr: float) -> tuple[float, float]:
    return MARGIN + fpr * SIZE, MARGIN + (1 - tpr) * SIZE


def roc_svg(curves: Sequence, *, title: str = "") -> SafeString:
    """One SVG with a curve per item of `curves` (objects with name, css, estimate, fpr, tpr);
    a curve without points (AUC undefined) is listed in the legend as "not defined"."""
    width, height = SIZE + 2 * MARGIN, SIZE + 2 * MARGIN + 18 * len(curves)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="roc" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">',
        format_html("<title>{}</title>", title or "ROC curves"),
        f'<rect x="{MARGIN}" y="{MARGIN}" width="{SIZE}" height="{SIZE}" fill="none" stroke="#555"/>',
        f'<line x1="{MARGIN}" y1="{MARGIN + SIZE}" x2="{MARGIN + SIZE}" y2="{MARGIN}" '
        'stroke="#444" stroke-dasharray="4 4"/>',
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x, y = _xy(tick, tick)
        parts.append(
            f'<text x="{x:.1f}" y="{MARGIN + SIZE + 14}" font-size="10" fill="#999" '
            f'text-anchor="middle">{tick:g}</text>'
            f'<text x="{MARGIN - 4}" y="{y + 3:.1f}" font-size="10" fill="#999" '
            f'text-anchor="end">{tick:g}</text>'
        )
    parts.append(
        f'<text x="{MARGIN + SIZE / 2}" y="{MARGIN + SIZE + 30}" font-size="11" fill="#ccc" '
        'text-anchor="middle">1 - specificity (false positive rate)</text>'
        f'<text transform="translate(12 {MARGIN + SIZE / 2}) rotate(-90)" font-size="11" '
        'fill="#ccc" text-anchor="middle">sensitivity</text>'
    )
    for index, curve in enumerate(curves):
        colour = COLOURS.get(curve.css, "#e8e8e8")
        if curve.fpr is not None:
            points = " ".join(
                "{:.1f},{:.1f}".format(*_xy(f, t))
                for f, t in zip(curve.fpr, curve.tpr, strict=True)
            )
            parts.append(
                f'<polyline class="roc-{escape(curve.css)}" fill="none" stroke="{colour}" '
                f'stroke-width="2" points="{points}"/>'
            )
        y = MARGIN + SIZE + 48 + 18 * index
        estimate = curve.estimate
        text = (
            f"{curve.name}: AUC {estimate.value:.3f}"
            + (
                f" ({estimate.ci_low:.3f} to {estimate.ci_high:.3f})"
                if estimate.se == estimate.se
                else ""
            )
            if estimate.value == estimate.value
            else f"{curve.name}: not defined"
        )
        parts.append(
            f'<line x1="{MARGIN}" y1="{y - 4}" x2="{MARGIN + 20}" y2="{y - 4}" stroke="{colour}" '
            f'stroke-width="2"/><text x="{MARGIN + 26}" y="{y}" font-size="11" fill="#ddd">'
            f"{escape(text)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
