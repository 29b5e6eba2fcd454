from django.urls import path

from . import export_views, views

app_name = "datasets"
urlpatterns = [
    path("datasets/<slug:slug>/", views.dataset_detail, name="detail"),
    path("images/<int:image_id>/thumbnail/", views.thumbnail, name="thumbnail"),
    path("images/<int:image_id>/viewer/", views.viewer, name="viewer"),
    path("images/<int:image_id>/render/<str:size>/", views.rendition, name="rendition"),
    # Relabeled export and version comparison (relabel)
    path("datasets/<slug:slug>/export/", export_views.export_page, name="export"),
    path(
        "datasets/<slug:slug>/export/download/",
        export_views.export_download,
        name="export_download",
    ),
    path("datasets/<slug:slug>/compare/", export_views.compare_page, name="compare"),
]
