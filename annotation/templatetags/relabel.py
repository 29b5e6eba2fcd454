"""Links of the relabeling pages (adjudication, relabeled export) for the audit page: shown only
to the people who may open them."""

from django import template

from annotation.access import audit_roles

register = template.Library()


@register.simple_tag
def relabel_links(user, audit) -> dict[str, bool]:
    roles = audit_roles(user, audit)
    return {
        "adjudication": bool(roles & {"manager", "adjudicator"}),
        "export": "manager" in roles,
    }
