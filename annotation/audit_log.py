"""The audit log: who imported, created, invited, exported and changed roles, and when.

`record` is called by the service doing the action, inside its transaction, so an action that
rolls back leaves no event and an event never describes something that did not happen.
"""

from django.db.models import QuerySet

from .models import Audit, AuditEvent

# The actions written today; others may be added by the services that do them.
ACTIONS = {
    "dataset.imported": "imported a dataset",
    "audit.created": "created an audit",
    "invitation.created": "invited",
    "invitation.resent": "re-sent an invitation",
    "invitation.revoked": "revoked an invitation",
    "invitation.accepted": "accepted an invitation",
    "account.created": "created an account",
    "role.granted": "granted a role",
    "role.removed": "removed a role",
    "api_token.created": "created an API token",
    "report.exported": "exported",
}


def record(
    action: str,
    *,
    actor=None,
    audit: Audit | None = None,
    dataset=None,
    target: str = "",
    actor_label: str = "",
    **details,
) -> AuditEvent:
    if audit is not None and dataset is None:
        dataset = audit.dataset
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        action=action,
        actor=actor if authenticated else None,
        actor_name=actor.get_username() if authenticated else (actor_label or ""),
        audit=audit,
        dataset=dataset,
        target=str(target)[:300],
        details=details,
    )


def events(*, action: str = "", audit_id: int | None = None) -> QuerySet[AuditEvent]:
    found = AuditEvent.objects.select_related("audit", "dataset")
    if action:
        found = found.filter(action=action)
    if audit_id:
        found = found.filter(audit_id=audit_id)
    return found
