from django.urls import path

from . import access_api

urlpatterns = [
    path("invitations/", access_api.InvitationList.as_view(), name="api-invitations"),
    path("invitations/<int:pk>/", access_api.InvitationDetail.as_view(), name="api-invitation"),
    path(
        "invitations/<int:pk>/resend/",
        access_api.InvitationResend.as_view(),
        name="api-invitation-resend",
    ),
    path("events/", access_api.AuditEventList.as_view(), name="api-events"),
]
