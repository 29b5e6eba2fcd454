from rest_framework import serializers

from .models import Verdict


class LabelGridsSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="label_id")
    name = serializers.CharField()
    samples = serializers.IntegerField()
    grids = serializers.IntegerField()
    grids_done = serializers.IntegerField()
    marked = serializers.IntegerField()


class AuditSerializer(serializers.Serializer):
    """An audit with the requesting reader's own progress per label."""

    id = serializers.IntegerField(source="audit.pk")
    name = serializers.CharField(source="audit.name")
    dataset = serializers.CharField(source="audit.dataset.slug")
    status = serializers.CharField(source="audit.status")
    blinded = serializers.BooleanField(source="audit.blinded")
    grid_size = serializers.IntegerField(source="audit.grid_size")
    per_label = serializers.IntegerField(source="audit.per_label", allow_null=True)
    seed = serializers.IntegerField(source="audit.seed")
    is_reader = serializers.BooleanField()
    marked = serializers.IntegerField()
    samples = serializers.IntegerField()
    labels = LabelGridsSerializer(many=True)


class TileSerializer(serializers.Serializer):
    sample = serializers.IntegerField(source="sample.pk")
    position = serializers.IntegerField(source="sample.position")
    image = serializers.IntegerField(source="sample.image_id")
    key = serializers.CharField(source="sample.image.key")
    cell = serializers.CharField(source="sample.cell")  # model reviews; blank otherwise
    verdict = serializers.CharField()
    tags = serializers.SerializerMethodField()
    note = serializers.CharField()

    def get_tags(self, tile) -> list[int]:
        return sorted(tile.tag_ids)


class MarkInputSerializer(serializers.Serializer):
    """A change of the reader's mark; a field left out leaves that part unchanged."""

    idempotency_key = serializers.CharField(max_length=64)
    verdict = serializers.ChoiceField(
        choices=["", *Verdict.values], required=False, allow_blank=True
    )
    tags = serializers.ListField(child=serializers.IntegerField(), required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class GridTagSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    shortcut = serializers.CharField(allow_blank=True)


class GridLabelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class GridSerializer(serializers.Serializer):
    """The shape of a grid response (documents the API; built in annotation.api)."""

    audit = serializers.IntegerField()
    label = GridLabelSerializer()
    grid = serializers.IntegerField()
    grids = serializers.IntegerField()
    can_mark = serializers.BooleanField()
    tags = GridTagSerializer(many=True)
    tiles = TileSerializer(many=True)
