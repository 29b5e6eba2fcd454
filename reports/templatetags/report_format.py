"""Number formatting for report pages: None (undefined, not read) shows as an em dash."""

from django import template

register = template.Library()
DASH = "\u2014"


@register.filter
def pct(value, digits=1):
    if value is None or value == "":
        return DASH
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def signed_pct(value):
    if value is None:
        return DASH
    return f"{float(value) * 100:+.1f} pts"


@register.filter
def ci(bounds):
    """[low, high] of a proportion as "71.2–84.0%"."""
    if not bounds or bounds[0] is None or bounds[1] is None:
        return DASH
    return f"{bounds[0] * 100:.1f}\u2013{bounds[1] * 100:.1f}%"


@register.filter
def coef(value, digits=2):
    if value is None or value == "":
        return DASH
    return f"{float(value):.{int(digits)}f}"


@register.filter
def coef_ci(estimate):
    """An Estimate dict's interval as "0.41 to 0.62"."""
    if not estimate or estimate.get("ci_low") is None or estimate.get("ci_high") is None:
        return DASH
    return f"{estimate['ci_low']:.2f} to {estimate['ci_high']:.2f}"


@register.filter
def seconds(value):
    if value is None:
        return DASH
    minutes, secs = divmod(int(round(float(value))), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key)
