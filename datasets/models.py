from django.conf import settings
from django.db import models
from django.db.models import Q


class Dataset(models.Model):
    class Format(models.TextChoices):
        CHESTXRAY14 = "chestxray14", "NIH ChestX-ray14"
        CHEXPERT = "chexpert", "CheXpert / MIMIC-CXR-JPG"
        GENERIC = "generic", "Generic CSV"

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    format = models.CharField(max_length=20, choices=Format.choices)
    # Absolute, symlink-resolved folder the images live under; blank when only labels were imported.
    root = models.CharField(max_length=1000, blank=True)
    label_file = models.CharField(max_length=1000, blank=True, help_text="The file imported last.")
    description = models.TextField(blank=True)
    maintainers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="maintained_datasets"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Label(models.Model):
    class Kind(models.TextChoices):
        FINDING = "finding", "finding"
        NO_FINDING = "no_finding", "no finding"
        MERGED = "merged", "merged"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=200)
    aliases = models.JSONField(default=list, blank=True, help_text="Other spellings of this label.")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FINDING)
    # A merged label (ChestX-ray14 "Opacity") holds the images of any of its members.
    members = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="merged_into"
    )
    reference_accuracy = models.FloatField(
        null=True,
        blank=True,
        help_text="The accuracy the dataset's paper claims for this label (0-1).",
    )
    reference_source = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="label_unique_name")
        ]

    def __str__(self) -> str:
        return self.name

    def images(self) -> models.QuerySet["Image"]:
        """The images that carry this label (positive), members included for a merged label."""
        if self.kind == Label.Kind.MERGED:
            condition = Q(labels__label__in=self.members.all())
        else:
            condition = Q(labels__label=self)
        return Image.objects.filter(condition, labels__value=ImageLabel.Value.POSITIVE).distinct()


class Image(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="images")
    # The dataset's own name of the image (ChestX-ray14 "Image Index", CheXpert "Path"): its
    # identity across re-imports, and the only name readers see.
    key = models.CharField(max_length=1000)
    path = models.CharField(max_length=1000, help_text="Relative to the dataset root.")
    patient_id = models.CharField(max_length=100, blank=True, db_index=True)
    study = models.CharField(max_length=100, blank=True, help_text="Study, or follow-up number.")
    view_position = models.CharField(max_length=20, blank=True)
    sex = models.CharField(max_length=10, blank=True)
    age = models.IntegerField(null=True, blank=True)
    width = models.IntegerField(null=True, blank=True)
    height = models.IntegerField(null=True, blank=True)
    pixel_spacing_x = models.FloatField(null=True, blank=True)
    pixel_spacing_y = models.FloatField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    file_found = models.BooleanField(default=False)
    unreadable_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["dataset", "key"], name="image_unique_key")]

    def __str__(self) -> str:
        return self.key


class ImageLabel(models.Model):
    class Value(models.IntegerChoices):
        POSITIVE = 1, "positive"
        NEGATIVE = 0, "negative"
        UNCERTAIN = -1, "uncertain"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="labels")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="image_labels_set")
    value = models.SmallIntegerField(choices=Value.choices, default=Value.POSITIVE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "label"], name="imagelabel_unique_pair")
        ]
        indexes = [models.Index(fields=["label", "value"], name="imagelabel_label_value")]

    def __str__(self) -> str:
        return f"{self.image.key}: {self.label.name} ({self.get_value_display()})"


class ModelRun(models.Model):
    """One model's predictions on a dataset's images, uploaded for a model audit."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        IMPORTING = "importing", "importing"
        READY = "ready", "ready"
        FAILED = "failed", "refused"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="model_runs")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source_file = models.CharField(max_length=1000, blank=True, help_text="The file uploaded.")
    labels = models.ManyToManyField(Label, related_name="model_runs", blank=True)
    predictions_count = models.PositiveIntegerField(default=0)
    # A web upload is imported by a Celery task (1.5 million scores take longer than a request
    # may); the page follows these. A refused file leaves no score, only the reason.
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    upload_path = models.CharField(max_length=1000, blank=True, help_text="File awaiting import.")
    layout = models.CharField(max_length=10, default="auto")
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    error_line = models.PositiveIntegerField(null=True, blank=True)
    # Per label AUC and Youden threshold against the dataset's labels, computed on first view
    # (seconds at NIH size) and kept: reports.model_audit.cached_run_summary.
    summary = models.JSONField(default=list, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="modelrun_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Prediction(models.Model):
    """The model's score for one label on one image (any real number: probability or logit)."""

    # No database-level foreign keys: PostgreSQL checks a deferred key row by row at commit,
    # which tripled the time to store 1.5 million scores (bench/model_audit.py). The ids are
    # the dataset's own, looked up in the upload's transaction, and deletion still cascades
    # through the ORM.
    run = models.ForeignKey(
        ModelRun, on_delete=models.CASCADE, related_name="predictions", db_constraint=False
    )
    label = models.ForeignKey(
        Label, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    image = models.ForeignKey(
        Image, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    score = models.FloatField()

    class Meta:
        constraints = [
            # Also the index every per-label read of a run goes through.
            models.UniqueConstraint(fields=["run", "label", "image"], name="prediction_unique_pair")
        ]

    def __str__(self) -> str:
        return f"{self.run}: {self.image_id} {self.label_id} = {self.score:g}"
