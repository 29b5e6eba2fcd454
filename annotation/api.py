"""The REST API of the reading room: the same selectors and mark service as the HTML pages."""

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.decorators import api_view
from rest_framework.response import Response

from . import selectors, services
from .access import audit_for, visible_audits
from .models import Audit
from .serializers import AuditSerializer, GridSerializer, MarkInputSerializer, TileSerializer
from .views import _is_reader, _sample_for_reader


def _progress(audit: Audit, user) -> dict:
    progress = selectors.audit_progress(audit=audit, reader=user)
    return {
        "audit": audit,
        "is_reader": progress.is_reader,
        "marked": progress.marked,
        "samples": progress.samples,
        "labels": progress.labels,
    }


class AuditList(generics.ListAPIView):
    """The audits the user can see, each with the user's own progress; paginated."""

    serializer_class = AuditSerializer

    def get_queryset(self):
        return visible_audits(self.request.user).select_related("dataset").order_by("pk")

    @extend_schema(operation_id="audits_list")
    def get(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(
            [AuditSerializer(_progress(audit, request.user)).data for audit in page]
        )


audit_list = AuditList.as_view()


@extend_schema(responses=AuditSerializer)
@api_view(["GET"])
def audit_detail(request, audit_id):
    audit = audit_for(request.user, audit_id)
    return Response(AuditSerializer(_progress(audit, request.user)).data)


@extend_schema(responses=GridSerializer)
@api_view(["GET"])
def grid_detail(request, audit_id, label_id, grid):
    """A grid (1-based) with the requesting reader's own marks only."""
    audit = audit_for(request.user, audit_id, "reader")
    page = selectors.grid_page(audit=audit, label_id=label_id, grid=grid - 1, reader=request.user)
    return Response(
        {
            "audit": audit.pk,
            "label": {"id": page.label.label_id, "name": page.label.name},
            "grid": grid,
            "grids": page.label.grids,
            "can_mark": audit.status == Audit.Status.READY and _is_reader(request.user, audit),
            "tags": [
                {"id": tag.pk, "name": tag.name, "shortcut": tag.shortcut} for tag in page.tags
            ],
            "tiles": TileSerializer(page.tiles, many=True).data,
        }
    )


@extend_schema(methods=["GET"], responses=TileSerializer)
@extend_schema(methods=["PUT"], request=MarkInputSerializer, responses=TileSerializer)
@api_view(["GET", "PUT"])
def mark(request, sample_id):
    """GET: the reader's mark on a tile. PUT: change it (idempotency_key required)."""
    try:
        sample = _sample_for_reader(request.user, sample_id, writing=request.method == "PUT")
    except PermissionDenied as error:
        return Response({"detail": str(error)}, status=status.HTTP_403_FORBIDDEN)
    if request.method == "PUT":
        payload = MarkInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            current = services.mark_set(
                sample=sample, reader=request.user, **payload.validated_data
            )
        except services.AuditError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        tile = selectors.tile_for(sample=sample, reader=request.user, mark=current)
    else:
        tile = selectors.tile_for(sample=sample, reader=request.user)
    return Response(TileSerializer(tile).data)
