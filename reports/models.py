"""Aggregation snapshots: what was computed for an audit, from which marks, when, by which code.

A Snapshot is immutable once written (save() refuses updates): a downloaded report can always be
traced to the exact marks and code that produced it. AggregationState is the small mutable row
that debounces aggregation requests for one audit.
"""

from django.conf import settings
from django.db import models

from annotation.models import Audit


class SnapshotImmutable(Exception):
    """Raised when code tries to change a snapshot after it was written."""


class Snapshot(models.Model):
    class Trigger(models.TextChoices):
        MARKS = "marks", "marks changed"
        MANUAL = "manual", "recompute requested"
        COMMAND = "command", "management command"
        VIEW = "view", "viewed while out of date (embedded mode)"

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="snapshots")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MARKS)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # From which marks: the history rows and adjudications seen, and a digest of the current
    # marks (sample, reader, verdict, tags), adjudications and reference accuracies read.
    mark_count = models.PositiveIntegerField(help_text="Current marks with a verdict.")
    last_change_id = models.BigIntegerField(
        null=True, blank=True, help_text="Highest MarkChange id of the audit when computed."
    )
    change_count = models.PositiveIntegerField(default=0, help_text="MarkChange rows seen.")
    adjudication_count = models.PositiveIntegerField(default=0)
    input_digest = models.CharField(max_length=64, db_index=True)
    # By which code: the package version plus a hash of the statistics source, and the versions
    # of the libraries that computed it (in results["versions"]).
    code_version = models.CharField(max_length=100)
    parameters = models.JSONField(default=dict, help_text="Bootstrap resamples, seed, level...")
    duration_ms = models.PositiveIntegerField(default=0)
    # Every figure computed (downloads, API).
    results = models.JSONField(default=dict)
    # What the report pages show, compact, figures (SVG) included: a page view is a read.
    dashboard = models.JSONField(default=dict)
    # The raw readers x items rating matrices, for recomputing elsewhere (JSON download only;
    # deferred by the dashboard).
    matrices = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["audit", "-created_at"], name="snapshot_audit_latest")]

    def __str__(self) -> str:
        return f"snapshot {self.pk} of {self.audit_id} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise SnapshotImmutable(f"snapshot {self.pk} is immutable; compute a new one")
        super().save(*args, **kwargs)


class AggregationState(models.Model):
    """Per audit: whether marks changed since the last snapshot and whether a run is queued.

    `scheduled_for` is claimed with a conditional UPDATE, so of many marks arriving within the
    debounce window exactly one queues the task.
    """

    audit = models.OneToOneField(Audit, on_delete=models.CASCADE, related_name="aggregation")
    requested_at = models.DateTimeField(null=True, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # What the last successful run had read: history up to this MarkChange id, at this time.
    # A run that found nothing new writes no snapshot but still moves these forward.
    checked_change_id = models.BigIntegerField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"aggregation of audit {self.audit_id}"
