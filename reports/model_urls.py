from django.urls import path

from . import model_views, planning_api

app_name = "model_audits"
urlpatterns = [
    path("datasets/<slug:slug>/models/", model_views.model_runs, name="runs"),
    path("models/<int:run_id>/", model_views.model_run, name="run"),
    path("models/<int:run_id>/delete/", model_views.run_delete, name="run_delete"),
    path("audits/<int:audit_id>/model-report/", model_views.model_report, name="report"),
    path("audits/<int:audit_id>/strata/", model_views.strata_report, name="strata"),
    path("audits/<int:audit_id>/controls/", model_views.controls_report, name="controls"),
    path("api/sample-size/", planning_api.sample_size, name="sample_size"),
]
