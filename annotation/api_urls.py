from django.urls import path

from . import api

app_name = "api"
urlpatterns = [
    path("audits/", api.audit_list, name="audits"),
    path("audits/<int:audit_id>/", api.audit_detail, name="audit"),
    path(
        "audits/<int:audit_id>/labels/<int:label_id>/grids/<int:grid>/",
        api.grid_detail,
        name="grid",
    ),
    path("samples/<int:sample_id>/mark/", api.mark, name="mark"),
]
