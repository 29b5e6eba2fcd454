from django.urls import path, re_path

from . import api

app_name = "reports_api"
urlpatterns = [
    path("audits/<int:audit_id>/", api.latest, name="latest"),
    path("audits/<int:audit_id>/snapshots/", api.snapshot_list, name="snapshots"),
    path("audits/<int:audit_id>/recompute/", api.recompute, name="recompute"),
    re_path(
        r"^audits/(?P<audit_id>[0-9]+)/download\.(?P<fmt>csv|json|html)$",
        api.download,
        name="download",
    ),
]
