from django.urls import path

from . import views

app_name = "datasets"
urlpatterns = [
    path("datasets/<slug:slug>/", views.dataset_detail, name="detail"),
    path("images/<int:image_id>/thumbnail/", views.thumbnail, name="thumbnail"),
]
