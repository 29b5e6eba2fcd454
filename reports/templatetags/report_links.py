"""`{% report_links audit %}`: links to an audit's report for those who may see it."""

from django import template

from reports.access import can_see_reports

register = template.Library()


@register.inclusion_tag("reports/_links.html", takes_context=True)
def report_links(context, audit):
    request = context.get("request")
    user = getattr(request, "user", None)
    return {"audit": audit, "visible": bool(user and can_see_reports(user, audit))}
