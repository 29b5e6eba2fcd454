from django.urls import path, re_path

from . import views

app_name = "reports"
report = "audits/<int:audit_id>/report/"
urlpatterns = [
    path(report, views.dashboard, name="dashboard"),
    path(report + "readers/", views.readers, name="readers"),
    path(report + "agreement/", views.agreement, name="agreement"),
    path(report + "recompute/", views.recompute, name="recompute"),
    re_path(
        r"^audits/(?P<audit_id>[0-9]+)/report/download\.(?P<fmt>csv|json|html)$",
        views.download,
        name="download",
    ),
    path(
        "datasets/<slug:slug>/reference-accuracy/",
        views.reference_accuracy,
        name="reference_accuracy",
    ),
]
