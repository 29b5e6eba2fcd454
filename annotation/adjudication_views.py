"""Adjudication pages: the queue's overview, its grids and the tile an adjudicator decides.
Thin views over annotation.adjudication."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from . import adjudication
from .access import audit_for, audit_roles
from .models import Audit, Membership, Sample


def _grid_url(audit_id: int, label_id: int, grid: int) -> str:
    return reverse("annotation:adjudication_grid", args=[audit_id, label_id, grid + 1])


def _check_not_blinded_reader(user, audit: Audit) -> None:
    """A reader of a blinded audit still open for reading must not see the others' marks,
    even when also its adjudicator: they adjudicate once reading is closed."""
    if audit.blinded and audit.status != Audit.Status.CLOSED:
        reads = Membership.objects.filter(audit=audit, user=user, role=Membership.Role.READER)
        if reads.exists():
            raise PermissionDenied(
                "You read this blinded audit: its adjudication queue shows the other readers' "
                "marks, so it opens for you once the audit is closed."
            )


def _audit_for_adjudication(user, audit_id: int) -> Audit:
    audit = audit_for(user, audit_id, "adjudicator")
    _check_not_blinded_reader(user, audit)
    return audit


@require_GET
@login_required
def overview(request, audit_id):
    audit = _audit_for_adjudication(request.user, audit_id)
    summary = adjudication.queue_summary(audit)
    first = summary.first_pending
    return render(
        request,
        "annotation/adjudication.html",
        {
            "audit": audit,
            "summary": summary,
            "rules": Audit.AdjudicationRule.choices,
            "is_manager": "manager" in audit_roles(request.user, audit),
            "can_adjudicate": adjudication.is_adjudicator(request.user, audit),
            "first_pending_url": first
            and reverse("annotation:adjudication_grid", args=[audit.pk, *first]),
        },
    )


@require_POST
@login_required
def set_rule(request, audit_id):
    audit = audit_for(request.user, audit_id)
    if "manager" not in audit_roles(request.user, audit):
        raise PermissionDenied("Only admins and the dataset's maintainers choose the rule")
    try:
        adjudication.set_rule(audit=audit, rule=request.POST.get("rule", ""))
    except adjudication.AdjudicationError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    messages.success(request, f"Adjudication rule: {audit.get_adjudication_rule_display()}.")
    return redirect("annotation:adjudication", audit.pk)


@require_GET
@login_required
def grid(request, audit_id, label_id, grid):
    audit = _audit_for_adjudication(request.user, audit_id)
    page = adjudication.queue_page(audit=audit, label_id=label_id, grid=grid - 1)
    return render(
        request,
        "annotation/adjudication_grid.html",
        {
            "audit": audit,
            "page": page,
            "can_mark": adjudication.is_adjudicator(request.user, audit),
            "done": sum(1 for tile in page.tiles if tile.adjudication),
            "previous_url": page.previous and _grid_url(audit.pk, *page.previous),
            "next_url": page.next and _grid_url(audit.pk, *page.next),
        },
    )


@require_POST
@login_required
def decide(request, sample_id):
    sample = Sample.objects.select_related("image", "label").filter(pk=sample_id).first()
    if sample is None:
        raise Http404("No such tile")
    sample.audit = _audit_for_adjudication(request.user, sample.audit_id)
    if not adjudication.is_adjudicator(request.user, sample.audit):
        raise PermissionDenied("Only the audit's adjudicators adjudicate")
    try:
        adjudication.adjudicate(
            sample=sample,
            adjudicator=request.user,
            verdict=request.POST.get("verdict") if "verdict" in request.POST else None,
            note=request.POST.get("note") if "note" in request.POST else None,
        )
    except adjudication.AdjudicationError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    if not request.htmx:
        target = request.POST.get("next", "")
        if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            return redirect(target)
        return redirect("annotation:adjudication", sample.audit_id)
    return render(
        request,
        "annotation/adjudication_grid.html#tile",
        {"tile": adjudication.tile_for(sample), "can_mark": True},
    )


@require_POST
@login_required
def grid_time(request, audit_id):
    """The shared grid script reports time on a page; adjudication time is not recorded."""
    audit_for(request.user, audit_id, "adjudicator")
    return HttpResponse(status=204)
