from django.urls import path

from . import views

app_name = "annotation"
grid = "audits/<int:audit_id>/labels/<int:label_id>/grids/<int:grid>/"
urlpatterns = [
    path("audits/new/", views.audit_create, name="audit_create"),
    path("audits/sample-size/", views.sample_size_hint, name="sample_size_hint"),
    path("audits/<int:audit_id>/", views.audit_detail, name="audit"),
    path("audits/<int:audit_id>/continue/", views.audit_continue, name="continue"),
    path(grid, views.grid, name="grid"),
    path(grid + "all-green/", views.mark_grid_green, name="grid_green"),
    path(grid + "time/", views.grid_time, name="grid_time"),
    path("samples/<int:sample_id>/mark/", views.mark_tile, name="mark"),
]
