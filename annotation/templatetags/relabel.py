"""Links of the relabeling pages (adjudication, relabeled export) for the audit page: shown only
to the people who may open them."""

from django import template

from annotation.access import audit_roles, is_admin

register = template.Library()


@register.simple_tag
def relabel_links(user, audit) -> dict[str, bool]:
    roles = audit_roles(user, audit)
    return {
        "adjudication": bool(roles & {"manager", "adjudicator"}),
        "export": "manager" in roles,
    }


@register.simple_tag
def can_export(user, dataset) -> bool:
    """Admins and the dataset's maintainers download its relabeled file."""
    return is_admin(user) or dataset.maintainers.filter(pk=user.pk).exists()


@register.simple_tag
def adjudicating(user):
    """The audits the user adjudicates, each with its number of pending tiles."""
    from annotation.adjudication import queue_summary
    from annotation.models import Audit, Membership

    audits = Audit.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.ADJUDICATOR
    ).distinct()
    return [(audit, queue_summary(audit).pending) for audit in audits]
