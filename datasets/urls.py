from django.urls import path

from . import views

app_name = "datasets"
urlpatterns = [
    path("<slug:slug>/", views.dataset_detail, name="detail"),
]
