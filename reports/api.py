"""REST API of the reports: the same selectors, exports and access rules as the pages."""

from django.http import Http404
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.response import Response

from . import aggregation, exports, selectors
from .access import can_recompute, report_audit_for
from .models import Snapshot


def _meta(snapshot: Snapshot) -> dict:
    return exports.to_dict(snapshot, matrices=False)["snapshot"]


@api_view(["GET"])
def latest(request, audit_id):
    """The latest snapshot's figures (no SVG, no matrices), and whether it is out of date."""
    audit, _roles = report_audit_for(request.user, audit_id)
    state = selectors.report_state(audit)
    if state.snapshot is None:
        return Response(
            {"detail": "no figures yet", "stale": True, "queued": state.queued},
            status=status.HTTP_404_NOT_FOUND,
        )
    snapshot = selectors.snapshot_by_id(audit, state.snapshot.pk)
    body = exports.to_dict(snapshot, matrices=False)
    body.update(stale=state.stale, queued=state.queued)
    return Response(body)


@api_view(["GET"])
def snapshot_list(request, audit_id):
    audit, _roles = report_audit_for(request.user, audit_id)
    snapshots = Snapshot.objects.filter(audit=audit).defer("results", "dashboard", "matrices")[:100]
    return Response([_meta(snapshot) for snapshot in snapshots])


@api_view(["GET"])
def snapshot_detail(request, audit_id, snapshot_id):
    """One snapshot in full, the raw rating matrices included (the JSON report)."""
    audit, _roles = report_audit_for(request.user, audit_id)
    try:
        snapshot = selectors.snapshot_by_id(audit, snapshot_id, matrices=True)
    except Snapshot.DoesNotExist:
        raise Http404("No such snapshot") from None
    return Response(exports.to_dict(snapshot))


@api_view(["POST"])
def recompute(request, audit_id):
    audit, roles = report_audit_for(request.user, audit_id)
    if not can_recompute(roles):
        raise Http404("No such audit")
    snapshot = aggregation.recompute_now(audit, user=request.user)
    if snapshot is None:
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)
    return Response({"queued": False, "snapshot": _meta(snapshot)}, status=status.HTTP_200_OK)
