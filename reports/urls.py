from django.urls import path

from . import views

app_name = "reports"
report = "audits/<int:audit_id>/report/"
urlpatterns = [
    path(report, views.dashboard, name="dashboard"),
    path(report + "readers/", views.readers, name="readers"),
    path(report + "agreement/", views.agreement, name="agreement"),
    path(report + "recompute/", views.recompute, name="recompute"),
    path(report + "download/", views.download, name="download"),
    path(
        "datasets/<slug:slug>/reference-accuracy/",
        views.reference_accuracy,
        name="reference_accuracy",
    ),
]
