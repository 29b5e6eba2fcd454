from django.conf import settings
from django.db import models

from datasets.models import Dataset, Image, Label, ModelRun


class Verdict(models.TextChoices):
    GREEN = "green", "green: label right"
    ORANGE = "orange", "orange: doubtful"
    RED = "red", "red: label wrong"


class Audit(models.Model):
    class Kind(models.TextChoices):
        LABEL_REVIEW = "label_review", "label review"
        MODEL_REVIEW = "model_review", "model review"
        SHUFFLED = "shuffled_control", "shuffled-labels control"

    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        BUILDING = "building", "building the sample set"
        READY = "ready", "ready for reading"
        FAILED = "failed", "sample set failed"
        CLOSED = "closed", "closed"

    class View(models.TextChoices):
        ANY = "", "any view"
        PA = "PA", "PA only"
        AP = "AP", "AP only"

    class AdjudicationRule(models.TextChoices):
        ANY = "any", "any disagreement"
        RED_GREEN = "red_green", "red vs green"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="audits")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.LABEL_REVIEW)
    labels = models.ManyToManyField(Label, related_name="audits")
    # None: every image of the label (a reference subset audited in full).
    per_label = models.PositiveIntegerField(null=True, blank=True, default=126)
    grid_size = models.PositiveSmallIntegerField(default=18)
    seed = models.IntegerField(default=7)
    one_per_patient = models.BooleanField(
        default=True, help_text="At most one image per patient per label."
    )
    sole_label_only = models.BooleanField(
        default=False, help_text="Only images whose sole label is this one."
    )
    view_filter = models.CharField(max_length=4, choices=View.choices, default=View.ANY, blank=True)
    blinded = models.BooleanField(default=True, help_text="Readers never see one another's marks.")
    # Model reviews (modelaudit): the predictions audited, and per label id (as text) the
    # threshold at or above which a score counts as a positive call.
    model_run = models.ForeignKey(
        ModelRun, null=True, blank=True, on_delete=models.PROTECT, related_name="audits"
    )
    thresholds = models.JSONField(default=dict, blank=True)
    decoy_fraction = models.FloatField(
        default=0.0, help_text="Share of tiles drawn from images NOT carrying the label (0: off)."
    )
    adjudication_rule = models.CharField(
        max_length=20,
        choices=AdjudicationRule.choices,
        default=AdjudicationRule.ANY,
        help_text="Which disagreements go to the adjudication queue.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    build_done = models.PositiveIntegerField(default=0)
    build_total = models.PositiveIntegerField(default=0)
    build_error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    """What else is visible on a tile (chest drain, pacemaker...): the hidden strata."""

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=100)
    shortcut = models.CharField(max_length=1, blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "name"]
        constraints = [models.UniqueConstraint(fields=["audit", "name"], name="tag_unique_name")]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in one audit; a user may hold several roles."""

    class Role(models.TextChoices):
        READER = "reader", "reader"
        ADJUDICATOR = "adjudicator", "adjudicator"
        RESEARCHER = "researcher", "researcher"

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.READER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["audit", "user", "role"], name="membership_unique_role")
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} in {self.audit}"


class Sample(models.Model):
    """One tile of an audit: an image drawn for a label, at a fixed position in its grids."""

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="samples")
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="+")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="samples")
    position = models.PositiveIntegerField(
        help_text="Order within the label's sample; grid = position // grid size."
    )

    class Cell(models.TextChoices):
        TP = "tp", "model's true positive"
        FP = "fp", "model's false positive"
        FN = "fn", "model's false negative"
        TN = "tn", "model's true negative"

    # Model reviews: the confusion cell the image fell in. Label reviews: blank.
    cell = models.CharField(max_length=2, choices=Cell.choices, blank=True)
    # A sanity-control tile from an image NOT carrying the label; never shown as such, never
    # counted in accuracy; it measures the reader's vigilance.
    is_decoy = models.BooleanField(default=False)

    class Meta:
        ordering = ["audit", "label", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["audit", "label", "position"], name="sample_unique_position"
            ),
            models.UniqueConstraint(fields=["audit", "label", "image"], name="sample_unique_image"),
        ]

    def __str__(self) -> str:
        return f"{self.label.name} #{self.position}"


class Mark(models.Model):
    """The current mark of one reader on one sample: exactly one per (sample, reader).

    A cleared mark keeps its row with an empty verdict; every change is in MarkChange.
    """

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="marks")
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="marks"
    )
    verdict = models.CharField(max_length=10, choices=Verdict.choices, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="marks")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sample", "reader"], name="mark_unique_reader")
        ]

    def __str__(self) -> str:
        return f"{self.reader} on {self.sample}: {self.verdict or 'unmarked'}"


class MarkChange(models.Model):
    """History of marks: who changed what, when. The idempotency key makes a retried or
    repeated request a no-op (unique per reader)."""

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="mark_changes")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=64)
    old_verdict = models.CharField(max_length=10, blank=True)
    new_verdict = models.CharField(max_length=10, blank=True)
    old_tags = models.JSONField(default=list, blank=True)
    new_tags = models.JSONField(default=list, blank=True)
    old_note = models.TextField(blank=True)
    new_note = models.TextField(blank=True)
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["changed_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reader", "idempotency_key"], name="markchange_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reader} on {self.sample}: {self.old_verdict or '-'} -> {self.new_verdict or '-'}"


class GridVisit(models.Model):
    """Time a reader spent on one grid of one label (seconds, accumulated over visits)."""

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="grid_visits")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="+")
    grid = models.PositiveIntegerField()
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seconds = models.FloatField(default=0)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["audit", "label", "grid", "reader"], name="gridvisit_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reader} on {self.label} grid {self.grid + 1}: {self.seconds:.0f} s"


class Adjudication(models.Model):
    """The adjudicated verdict of one sample, which overrides the readers' majority."""

    sample = models.OneToOneField(Sample, on_delete=models.CASCADE, related_name="adjudication")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    adjudicator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    decided_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.sample}: {self.verdict} by {self.adjudicator}"


class AdjudicationChange(models.Model):
    """History of adjudications: who set (or withdrew) which verdict, when."""

    sample = models.ForeignKey(
        Sample, on_delete=models.CASCADE, related_name="adjudication_changes"
    )
    adjudicator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    old_verdict = models.CharField(max_length=10, blank=True)
    new_verdict = models.CharField(max_length=10, blank=True)
    note = models.TextField(blank=True)
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self) -> str:
        return f"{self.adjudicator} on {self.sample}: {self.old_verdict or '-'} -> {self.new_verdict or '-'}"


# --- People and access (issue 6): invitations and the audit log -------------------------------


class Invitation(models.Model):
    """An e-mail invitation to a role in one audit (reader, adjudicator, researcher) or in one
    dataset (maintainer). Only the SHA-256 of its token is stored; the token itself is only in
    the e-mail. Single use: accepting it stamps `accepted_at` under a row lock."""

    class Role(models.TextChoices):
        READER = "reader", "reader"
        ADJUDICATOR = "adjudicator", "adjudicator"
        RESEARCHER = "researcher", "researcher"
        MAINTAINER = "maintainer", "maintainer (of the dataset)"

    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.READER)
    audit = models.ForeignKey(
        Audit, null=True, blank=True, on_delete=models.CASCADE, related_name="invitations"
    )
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.CASCADE, related_name="invitations"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    send_count = models.PositiveSmallIntegerField(default=0)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="accepted_invitations",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Exactly one place: an audit role, or a dataset's maintainer.
            models.CheckConstraint(
                condition=(
                    models.Q(role="maintainer", audit__isnull=True, dataset__isnull=False)
                    | (
                        ~models.Q(role="maintainer")
                        & models.Q(audit__isnull=False, dataset__isnull=True)
                    )
                ),
                name="invitation_one_place",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} as {self.role} in {self.audit or self.dataset}"

    @property
    def place(self):
        return self.audit or self.dataset

    def status_at(self, now) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "pending"


class AuditEvent(models.Model):
    """A security-relevant action: who did what to what, when. Written by the service that
    does the action, in its transaction; never edited."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too, so the log still names a deleted user.
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=50, db_index=True)
    audit = models.ForeignKey(
        Audit, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    target = models.CharField(max_length=300, blank=True, help_text="What was acted on.")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or '-'} {self.action} {self.target}"


# The outbox model lives with its relay and sweeper (annotation/outbox.py); imported here so
# Django registers it.
from .outbox import OutboxTask  # noqa: E402, F401
