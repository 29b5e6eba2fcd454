from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

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
    # Password change and reset (Django's views, our templates). A reset mails a one-time link
    # to the account's address; it never creates an account.
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(success_url=reverse_lazy("access:password_changed")),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_changed",
    ),
    path(
        "accounts/password-reset/",
        auth_views.PasswordResetView.as_view(
            success_url=reverse_lazy("access:password_reset_sent"),
            email_template_name="registration/password_reset_email.txt",
        ),
        name="password_reset",
    ),
    path(
        "accounts/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_sent",
    ),
    path(
        "accounts/password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            success_url=reverse_lazy("access:password_reset_complete")
        ),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
