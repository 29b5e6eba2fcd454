"""Number formatting for the model-audit pages: a NaN shows as a dash, never as "nan"."""

import math

from django import template

register = template.Library()


def _ok(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


@register.filter
def pct(value, digits=1):
    return f"{100 * value:.{digits}f}%" if _ok(value) else "–"


@register.filter
def interval(pair):
    """(low, high) as "72.1–88.0%"."""
    if not pair or not all(_ok(v) for v in pair):
        return "–"
    return f"{100 * pair[0]:.1f}–{100 * pair[1]:.1f}%"


@register.filter
def auc(estimate):
    """An AucEstimate as "0.812 (0.771–0.853)"; undefined: its reason."""
    if estimate is None or not _ok(estimate.value):
        return "not defined" if estimate is None else f"not defined ({estimate.reason})"
    if not _ok(estimate.se):
        return f"{estimate.value:.3f} (no interval: one image of a class)"
    return f"{estimate.value:.3f} ({estimate.ci_low:.3f}–{estimate.ci_high:.3f})"


@register.filter
def num(value, digits=3):
    return f"{value:.{digits}g}" if _ok(value) else "–"
