"""Read-only REST API of datasets and their labels, narrowed by annotation.access."""

from django.shortcuts import get_object_or_404
from rest_framework import generics, serializers

from annotation.access import visible_datasets

from .models import Dataset, Label


class DatasetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = ["id", "slug", "name", "format", "description", "created_at"]


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "kind", "aliases", "reference_accuracy", "reference_source"]


class DatasetList(generics.ListAPIView):
    """The datasets the user can see (maintains, or reads an audit of)."""

    serializer_class = DatasetSerializer

    def get_queryset(self):
        return visible_datasets(self.request.user).order_by("name")


class DatasetDetail(generics.RetrieveAPIView):
    serializer_class = DatasetSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return visible_datasets(self.request.user)


class LabelList(generics.ListAPIView):
    """A dataset's labels, with the accuracy its paper claims (the reference)."""

    serializer_class = LabelSerializer

    def get_queryset(self):
        dataset = get_object_or_404(visible_datasets(self.request.user), slug=self.kwargs["slug"])
        return Label.objects.filter(dataset=dataset).order_by("name")
