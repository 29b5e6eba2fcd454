from django.contrib import admin

from .models import Dataset, Image, ImageLabel, Label, ModelRun


class LabelInline(admin.TabularInline):
    model = Label
    fields = ("name", "kind", "aliases", "reference_accuracy", "reference_source")
    extra = 0
    show_change_link = True


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "format", "root", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [LabelInline]


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("name", "dataset", "kind", "reference_accuracy")
    list_filter = ("dataset", "kind")
    search_fields = ("name",)
    filter_horizontal = ("members",)


class ImageLabelInline(admin.TabularInline):
    model = ImageLabel
    extra = 0
    autocomplete_fields = ("label",)


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("key", "dataset", "patient_id", "view_position", "sex", "age", "file_found")
    list_filter = ("dataset", "view_position", "file_found", "labels__label__name")
    search_fields = ("key", "path", "=patient_id")
    list_select_related = ("dataset",)
    show_full_result_count = False
    inlines = [ImageLabelInline]


@admin.register(ImageLabel)
class ImageLabelAdmin(admin.ModelAdmin):
    list_display = ("image", "label", "value")
    list_filter = ("value", "label__dataset", "label__name")
    search_fields = ("image__key", "=image__patient_id")
    list_select_related = ("image", "label")
    raw_id_fields = ("image",)
    show_full_result_count = False


@admin.register(ModelRun)
class ModelRunAdmin(admin.ModelAdmin):
    """Model runs (modelaudit); their 1.5 million scores are not listed here."""

    list_display = ("name", "dataset", "predictions_count", "source_file", "created_at")
    list_filter = ("dataset",)
    search_fields = ("name",)
    readonly_fields = ("predictions_count", "source_file", "uploaded_by", "created_at")
    filter_horizontal = ("labels",)
