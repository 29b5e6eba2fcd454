from django.urls import path

from . import views

app_name = "datasets"
urlpatterns = [
    path("datasets/<slug:slug>/", views.dataset_detail, name="detail"),
    path("images/<int:image_id>/thumbnail/", views.thumbnail, name="thumbnail"),
    path("images/<int:image_id>/viewer/", views.viewer, name="viewer"),
    path("images/<int:image_id>/render/<str:size>/", views.rendition, name="rendition"),
]
