from django.urls import path

from . import api

urlpatterns = [
    path("datasets/", api.DatasetList.as_view(), name="api-datasets"),
    path("datasets/<slug:slug>/", api.DatasetDetail.as_view(), name="api-dataset"),
    path("datasets/<slug:slug>/labels/", api.LabelList.as_view(), name="api-dataset-labels"),
]
