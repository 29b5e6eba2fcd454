from django.contrib import admin

from .models import AggregationState, Snapshot


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    """Read only: a snapshot is immutable evidence of what was computed from which marks."""

    list_display = [
        "id",
        "audit",
        "created_at",
        "trigger",
        "mark_count",
        "code_version",
        "duration_ms",
    ]
    list_filter = ["trigger"]
    exclude = ["results", "dashboard", "matrices"]
    readonly_fields = [
        "audit", "created_at", "trigger", "requested_by", "mark_count", "last_change_id",
        "change_count", "adjudication_count", "input_digest", "code_version", "parameters",
        "duration_ms",
    ]  # fmt: skip

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AggregationState)
class AggregationStateAdmin(admin.ModelAdmin):
    list_display = [
        "audit",
        "requested_at",
        "scheduled_for",
        "started_at",
        "finished_at",
        "last_error",
    ]
    readonly_fields = list_display + ["checked_change_id", "checked_at"]

    def has_add_permission(self, request):
        return False
