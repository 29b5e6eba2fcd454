"""REST API of the reports: the same selectors, exports and access rules as the pages."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view
from rest_framework.response import Response

from . import aggregation, exports, selectors
from .access import can_recompute, report_audit_for
from .models import Snapshot
from .views import report_file


def _meta(snapshot: Snapshot) -> dict:
    return exports.to_dict(snapshot, matrices=False)["snapshot"]


@extend_schema(
    responses=OpenApiResponse(
        OpenApiTypes.OBJECT, description="the figures (404 with a detail when none yet)"
    )
)
@api_view(["GET"])
def latest(request, audit_id):
    """The latest snapshot's figures (no SVG), and whether it is out of date. ?snapshot=<id>
    gives an earlier one; ?matrices=1 adds the raw rating matrices. Before the first
    aggregation has finished: "snapshot": null (the audit is in reach, its figures are not)."""
    audit, _roles = report_audit_for(request.user, audit_id)
    state = selectors.report_state(audit)
    wanted = request.query_params.get("snapshot")
    matrices = request.query_params.get("matrices") in ("1", "true", "yes")
    if wanted is None and state.snapshot is None:
        return Response({"snapshot": None, "stale": True, "queued": state.queued})
    try:
        snapshot_id = int(wanted) if wanted is not None else state.snapshot.pk
        snapshot = selectors.snapshot_by_id(audit, snapshot_id, matrices=matrices)
    except (ValueError, Snapshot.DoesNotExist):
        raise Http404("No such snapshot") from None
    body = exports.to_dict(snapshot, matrices=matrices)
    body.update(stale=state.stale, queued=state.queued)
    return Response(body)


@extend_schema(
    operation_id="reports_audits_snapshots_list",
    responses=OpenApiResponse(
        {"type": "array", "items": {"type": "object"}}, description="snapshots, newest first"
    ),
)
@api_view(["GET"])
def snapshot_list(request, audit_id):
    audit, _roles = report_audit_for(request.user, audit_id)
    snapshots = Snapshot.objects.filter(audit=audit).defer("results", "dashboard", "matrices")[:100]
    return Response([_meta(snapshot) for snapshot in snapshots])


@extend_schema(
    request=None,
    responses=OpenApiResponse(
        OpenApiTypes.OBJECT, description='the new snapshot, or "queued": true for the worker'
    ),
)
@api_view(["POST"])
def recompute(request, audit_id):
    audit, roles = report_audit_for(request.user, audit_id)
    if not can_recompute(roles):
        raise Http404("No such audit")
    snapshot = aggregation.recompute_now(audit, user=request.user)
    if snapshot is None:  # queued for the worker
        return Response({"queued": True, "snapshot": None})
    return Response({"queued": False, "snapshot": _meta(snapshot)})


@extend_schema(
    operation_id="reports_audits_download",
    parameters=[
        OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=["csv", "json", "html"]),
        OpenApiParameter("snapshot", int, description="a snapshot id (default: the latest)"),
    ],
    responses={
        (200, "text/csv"): OpenApiTypes.BINARY,
        (200, "application/json"): OpenApiTypes.OBJECT,
        (200, "text/html"): OpenApiTypes.BINARY,
    },
)
@api_view(["GET"])
def download(request, audit_id, fmt):
    """The report as a file (CSV, JSON or standalone HTML), reachable with a token so scripts
    (curl) can fetch it; ?snapshot=<id> (default: the latest)."""
    audit, _roles = report_audit_for(request.user, audit_id)
    response = report_file(audit, fmt, request.query_params.get("snapshot"))
    if response is None:
        raise Http404("No figures yet: the first aggregation is running")
    return response
