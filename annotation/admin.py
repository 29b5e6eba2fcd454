from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction

from .models import (
    Adjudication,
    Audit,
    AuditEvent,
    GridVisit,
    Invitation,
    Mark,
    MarkChange,
    Membership,
    Sample,
    Tag,
)
from .tasks import build_sample_set


class TagInline(admin.TabularInline):
    model = Tag
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Audit)
class AuditAdmin(admin.ModelAdmin):
    list_display = ("name", "dataset", "status", "per_label", "seed", "blinded", "created_at")
    list_filter = ("status", "dataset", "blinded")
    search_fields = ("name",)
    filter_horizontal = ("labels",)
    readonly_fields = ("status", "build_done", "build_total", "build_error", "created_at")
    inlines = [TagInline, MembershipInline]
    actions = ["build"]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change:
            # Built once the labels are saved, like an audit created in the app.
            audit = form.instance
            transaction.on_commit(lambda: build_sample_set.delay(audit.pk))

    @admin.action(description="Build the sample set (draft or failed audits)")
    def build(self, request, queryset):
        for audit in queryset.filter(status__in=[Audit.Status.DRAFT, Audit.Status.FAILED]):
            build_sample_set.delay(audit.pk)


@admin.register(Sample)
class SampleAdmin(admin.ModelAdmin):
    list_display = ("audit", "label", "position", "image")
    list_filter = ("audit", "label__name")
    list_select_related = ("audit", "label", "image")
    raw_id_fields = ("image",)
    show_full_result_count = False


@admin.register(Mark)
class MarkAdmin(admin.ModelAdmin):
    """Read only: marks change through the reading room, which keeps their history."""

    list_display = ("sample", "reader", "verdict", "updated_at")
    list_filter = ("verdict", "sample__audit")
    list_select_related = ("sample__label", "reader")
    readonly_fields = ("sample", "reader", "verdict", "tags", "note", "created_at", "updated_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MarkChange)
class MarkChangeAdmin(admin.ModelAdmin):
    list_display = ("sample", "reader", "old_verdict", "new_verdict", "changed_at")
    list_filter = ("sample__audit",)
    list_select_related = ("sample__label", "reader")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(Membership, list_display=("audit", "user", "role"), list_filter=("role",))
admin.site.register(GridVisit, list_display=("audit", "label", "grid", "reader", "seconds"))
admin.site.register(Adjudication, list_display=("sample", "verdict", "adjudicator", "decided_at"))


# --- People and access (issue 6) ---------------------------------------------------------------
@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Read only: invitations are made, re-sent and revoked on the people pages (which mail the
    link and write the audit log); the token is never stored, only its hash."""

    list_display = ("email", "role", "audit", "dataset", "created_at", "expires_at", "accepted_at")
    list_filter = ("role",)
    search_fields = ("email",)
    exclude = ("token_hash",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_name", "action", "target", "audit", "dataset")
    list_filter = ("action",)
    search_fields = ("actor_name", "target")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class InvitedOnlyUserAdmin(UserAdmin):
    """Accounts come only from invitations (and createsuperuser): no "add user" here."""

    def has_add_permission(self, request):
        return False


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), InvitedOnlyUserAdmin)
