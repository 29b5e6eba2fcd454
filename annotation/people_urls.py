from django.urls import path

from . import people

app_name = "access"
urlpatterns = [
    path("invite/<str:token>/", people.accept, name="accept"),
    path("audits/<int:audit_id>/people/", people.audit_people, name="audit_people"),
    path(
        "audits/<int:audit_id>/people/<int:user_id>/remove/",
        people.audit_member_remove,
        name="audit_member_remove",
    ),
    path("datasets/<slug:slug>/people/", people.dataset_people, name="dataset_people"),
    path(
        "datasets/<slug:slug>/people/<int:user_id>/remove/",
        people.dataset_maintainer_remove,
        name="dataset_maintainer_remove",
    ),
    path("invitations/<int:pk>/resend/", people.invitation_resend, name="invitation_resend"),
    path("invitations/<int:pk>/revoke/", people.invitation_revoke, name="invitation_revoke"),
    path("audit-log/", people.audit_log_page, name="audit_log"),
    path("accounts/token/", people.api_token, name="api_token"),
]
