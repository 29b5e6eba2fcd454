"""REST API of invitations (admins, and maintainers for their datasets' audits) and of the
audit log (admins). The same services as the people pages."""

from django.db.models import Q
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import invitations
from .access import dataset_for, is_admin, managed_audit_for, managed_datasets
from .models import AuditEvent, Invitation
from .people import accept_url_builder


class InvitationSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    dataset = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    invited_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    accepted_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "role",
            "audit",
            "dataset",
            "status",
            "invited_by",
            "created_at",
            "sent_at",
            "send_count",
            "expires_at",
            "accepted_at",
            "accepted_by",
            "revoked_at",
        ]

    def get_status(self, invitation) -> str:
        from django.utils import timezone

        return invitation.status_at(timezone.now())


class InvitationInputSerializer(serializers.Serializer):
    """An audit role needs `audit`; the maintainer role needs `dataset` (its slug)."""

    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Invitation.Role.choices)
    audit = serializers.IntegerField(required=False, min_value=1)
    dataset = serializers.SlugField(required=False)
    days = serializers.IntegerField(required=False, min_value=1, max_value=90)


def _managed_invitations(user):
    if is_admin(user):
        return Invitation.objects.all()
    datasets = managed_datasets(user)
    return Invitation.objects.filter(Q(audit__dataset__in=datasets) & ~Q(role="maintainer"))


def _invitation_for(user, pk) -> Invitation:
    invitation = _managed_invitations(user).select_related("audit__dataset", "dataset")
    invitation = invitation.filter(pk=pk).first()
    if invitation is None:
        raise Http404("No such invitation")
    return invitation


class InvitationList(generics.ListCreateAPIView):
    """Invitations the user manages (newest first); POST invites an address and e-mails the
    link (the token is never returned)."""

    serializer_class = InvitationSerializer

    def get_queryset(self):
        return _managed_invitations(self.request.user).select_related(
            "dataset", "invited_by", "accepted_by"
        )

    @extend_schema(request=InvitationInputSerializer, responses={201: InvitationSerializer})
    def post(self, request):
        payload = InvitationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        place = {}
        if data.get("audit"):
            place["audit"] = managed_audit_for(request.user, data["audit"])
        if data.get("dataset"):
            place["dataset"] = dataset_for(request.user, data["dataset"], manage=True)
        try:
            sent = invitations.invite(
                by=request.user,
                email=data["email"],
                role=data["role"],
                days=data.get("days"),
                accept_url=accept_url_builder(request),
                **place,
            )
        except invitations.InvitationError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(InvitationSerializer(sent.invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetail(APIView):
    """GET an invitation; DELETE revokes it (a pending one only)."""

    @extend_schema(responses=InvitationSerializer)
    def get(self, request, pk):
        return Response(InvitationSerializer(_invitation_for(request.user, pk)).data)

    @extend_schema(responses=InvitationSerializer)
    def delete(self, request, pk):
        invitation = _invitation_for(request.user, pk)
        try:
            invitation = invitations.revoke(by=request.user, invitation=invitation)
        except invitations.InvitationError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(InvitationSerializer(invitation).data)


class InvitationResend(APIView):
    """A new link with a fresh validity, e-mailed again (the old link stops working)."""

    @extend_schema(request=None, responses=InvitationSerializer)
    def post(self, request, pk):
        invitation = _invitation_for(request.user, pk)
        try:
            sent = invitations.resend(
                by=request.user, invitation=invitation, accept_url=accept_url_builder(request)
            )
        except invitations.InvitationError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(InvitationSerializer(sent.invitation).data)


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor_name", "action", "audit", "dataset", "target", "details"]


class AuditEventList(generics.ListAPIView):
    """The audit log (admins only; others get an empty list), newest first."""

    serializer_class = AuditEventSerializer

    def get_queryset(self):
        if not is_admin(self.request.user):
            return AuditEvent.objects.none()
        return AuditEvent.objects.all()
