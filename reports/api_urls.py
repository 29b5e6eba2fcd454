from django.urls import path

from . import api

app_name = "reports_api"
urlpatterns = [
    path("audits/<int:audit_id>/", api.latest, name="latest"),
    path("audits/<int:audit_id>/snapshots/", api.snapshot_list, name="snapshots"),
    path("audits/<int:audit_id>/recompute/", api.recompute, name="recompute"),
]
