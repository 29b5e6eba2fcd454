from django.urls import path

from . import adjudication_views, reads_views, views

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

# Adjudication (relabel): the queue of disagreeing samples and the adjudicator's grid.
adjudication_grid = "audits/<int:audit_id>/adjudication/labels/<int:label_id>/grids/<int:grid>/"
urlpatterns += [
    path("audits/<int:audit_id>/adjudication/", adjudication_views.overview, name="adjudication"),
    path(
        "audits/<int:audit_id>/adjudication/rule/",
        adjudication_views.set_rule,
        name="adjudication_rule",
    ),
    path(adjudication_grid, adjudication_views.grid, name="adjudication_grid"),
    path(
        "audits/<int:audit_id>/adjudication/time/",
        adjudication_views.grid_time,
        name="adjudication_time",
    ),
    path("samples/<int:sample_id>/adjudicate/", adjudication_views.decide, name="adjudicate"),
    path("audits/<int:audit_id>/reads/import/", reads_views.import_page, name="reads_import"),
]
