"""The reading room: audit pages, the grid and its tile partial. Thin views over the services."""

import uuid

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from reports.stats import wilson_half_width

from . import selectors, services
from .access import audit_for, audit_roles, visible_datasets
from .forms import AuditForm, MarkForm
from .models import Audit, Membership, Sample


def _grid_url(audit_id: int, label_id: int, grid: int) -> str:
    return reverse("annotation:grid", args=[audit_id, label_id, grid + 1])


def _is_reader(user, audit: Audit) -> bool:
    return Membership.objects.filter(audit=audit, user=user, role=Membership.Role.READER).exists()


@login_required
def audit_detail(request, audit_id):
    audit = audit_for(request.user, audit_id)
    progress = selectors.audit_progress(audit=audit, reader=request.user)
    context = {
        "audit": audit,
        "progress": progress,
        "is_manager": "manager" in audit_roles(request.user, audit),
        "tags": audit.tags.all(),
    }
    if request.htmx and request.GET.get("part") == "build":
        if audit.status not in (Audit.Status.DRAFT, Audit.Status.BUILDING):
            # Built (or failed) while the page was polling: reload it whole, with its grids.
            return HttpResponseClientRefresh()
        return render(request, "annotation/audit_detail.html#build", context)
    return render(request, "annotation/audit_detail.html", context)


@login_required
def audit_continue(request, audit_id):
    audit = audit_for(request.user, audit_id, "reader")
    progress = selectors.audit_progress(audit=audit, reader=request.user)
    if progress.resume is None:
        messages.info(request, f"Every grid of {audit.name} is marked.")
        return redirect("annotation:audit", audit.pk)
    return redirect(_grid_url(audit.pk, *progress.resume))


def _reader_audit(user, audit_id: int) -> tuple[Audit, bool]:
    """The audit for its grid pages, and whether the user is one of its readers (may mark).

    A reader in one query; anyone else (a manager reads the grids without marking) through
    access.audit_for, which answers 404 to whoever holds no role.
    """
    membership = (
        Membership.objects.select_related("audit__dataset")
        .filter(audit_id=audit_id, user_id=user.pk, role=Membership.Role.READER)
        .first()
    )
    if membership is not None:
        return membership.audit, True
    return audit_for(user, audit_id, "reader"), False


def _url_former(name: str):
    """A function id -> URL of the route `name`, reversed once (a grid has many tiles)."""
    pattern = reverse(name, args=[987654321])
    return lambda pk: pattern.replace("987654321", str(pk))


def _with_urls(tiles: list[selectors.Tile]) -> list[selectors.Tile]:
    mark_url = _url_former("annotation:mark")
    thumbnail_url = _url_former("datasets:thumbnail")
    viewer_url = _url_former("datasets:viewer")
    for tile in tiles:
        tile.mark_url = mark_url(tile.sample.pk)
        tile.thumbnail_url = thumbnail_url(tile.sample.image_id)
        tile.viewer_url = viewer_url(tile.sample.image_id)
    return tiles


@login_required
def grid(request, audit_id, label_id, grid):
    audit, is_reader = _reader_audit(request.user, audit_id)
    if audit.status not in (Audit.Status.READY, Audit.Status.CLOSED):
        raise Http404("The sample set is not built yet")
    page = selectors.grid_page(audit=audit, label_id=label_id, grid=grid - 1, reader=request.user)
    _with_urls(page.tiles)
    return render(
        request,
        "annotation/grid.html",
        {
            "page": page,
            "audit": audit,
            "tags": page.tags,
            "can_mark": is_reader and audit.status == Audit.Status.READY,
            "marked": sum(1 for tile in page.tiles if tile.verdict),
            "previous_url": page.previous and _grid_url(audit.pk, *page.previous),
            "next_url": page.next and _grid_url(audit.pk, *page.next),
            "new_key": uuid.uuid4().hex,
        },
    )


def _sample_for_reader(user, sample_id: int, *, writing: bool = True) -> Sample:
    """The sample if the user reads its audit (404 when out of reach, 403 for a non-reader or,
    when writing, a closed audit)."""
    # The common case in one query: the user is a reader of the sample's audit (which makes
    # the audit visible to them). Anything else goes through access.audit_for for its answer.
    sample = (
        Sample.objects.select_related("image", "audit")
        .filter(
            pk=sample_id,
            audit__memberships__user_id=user.pk,
            audit__memberships__role=Membership.Role.READER,
        )
        .order_by()  # Sample's default order (audit, label) would join and sort for one row
        .first()
    )
    if sample is None:
        sample = Sample.objects.filter(pk=sample_id).order_by().first()
        if sample is None:
            raise Http404("No such tile")
        audit_for(user, sample.audit_id, "reader")  # 404 when out of reach
        raise PermissionDenied("Only the audit's readers mark its tiles")
    if writing and sample.audit.status != Audit.Status.READY:
        raise PermissionDenied("The audit is closed: marks can no longer change")
    return sample


def _back(request, fallback: str):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(fallback)


@require_POST
@login_required
def mark_tile(request, sample_id):
    sample = _sample_for_reader(request.user, sample_id)
    tags = list(sample.audit.tags.all())
    tag_ids = [tag.pk for tag in tags]
    form = MarkForm(request.POST, tag_ids=tag_ids)
    if not form.is_valid():
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    try:
        mark = services.mark_set(
            sample=sample, reader=request.user, audit_tags=tag_ids, **form.changes()
        )
    except services.AuditError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    if not request.htmx:
        grid_index = sample.position // sample.audit.grid_size
        return _back(request, _grid_url(sample.audit_id, sample.label_id, grid_index))
    tile = _with_urls([selectors.tile_for(sample=sample, reader=request.user, mark=mark)])[0]
    return render(
        request,
        "annotation/grid.html#tile",
        {"tile": tile, "tags": tags, "can_mark": True, "new_key": uuid.uuid4().hex},
    )


@require_POST
@login_required
def mark_grid_green(request, audit_id, label_id, grid):
    audit = audit_for(request.user, audit_id, "reader")
    if not _is_reader(request.user, audit) or audit.status != Audit.Status.READY:
        raise PermissionDenied("Only the readers of an open audit mark its tiles")
    label = selectors.label_of(audit, label_id)
    key = request.POST.get("idempotency_key", "").strip()
    if not key:
        return HttpResponse("idempotency_key is required", status=400, content_type="text/plain")
    services.mark_all_unmarked_green(
        audit=audit, label=label, grid=grid - 1, reader=request.user, idempotency_key=key
    )
    return redirect(_grid_url(audit.pk, label.pk, grid - 1))


@require_POST
@login_required
def grid_time(request, audit_id, label_id, grid):
    audit = audit_for(request.user, audit_id, "reader")
    label = selectors.label_of(audit, label_id)
    try:
        seconds = float(request.POST.get("seconds", ""))
    except ValueError:
        return HttpResponse("seconds must be a number", status=400, content_type="text/plain")
    if _is_reader(request.user, audit):
        services.record_grid_time(
            audit=audit, label=label, grid=grid - 1, reader=request.user, seconds=seconds
        )
    return HttpResponse(status=204)


def _managed_datasets(user):
    datasets = visible_datasets(user)
    if not (user.is_staff or user.is_superuser):
        datasets = datasets.filter(maintainers=user)
    return datasets


@login_required
def audit_create(request):
    datasets = _managed_datasets(request.user)
    if not datasets.exists():
        raise Http404("Only admins and dataset maintainers create audits")
    form = AuditForm(request.POST or None, datasets=datasets)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        names = [name.strip() for name in data["readers"].split(",") if name.strip()]
        readers = list(get_user_model().objects.filter(username__in=names))
        missing = sorted(set(names) - {user.username for user in readers})
        if missing:
            form.add_error("readers", f"unknown user(s): {', '.join(missing)}")
        else:
            try:
                with transaction.atomic():
                    audit = services.create_audit(
                        dataset=data["dataset"],
                        name=data["name"],
                        labels=list(data["labels"]) or None,
                        per_label=data["per_label"],
                        grid_size=data["grid_size"],
                        seed=data["seed"],
                        one_per_patient=data["one_per_patient"],
                        sole_label_only=data["sole_label_only"],
                        view_filter=data["view_filter"] or "",
                        blinded=data["blinded"],
                        kind=data["kind"] or Audit.Kind.LABEL_REVIEW,
                        decoy_fraction=(data["decoy_percent"] or 0) / 100,
                        tags=data["tags"],
                        readers=readers,
                        created_by=request.user,
                    )
            except services.AuditError as error:
                form.add_error(None, str(error))
            else:
                return redirect("annotation:audit", audit.pk)
    return render(
        request,
        "annotation/audit_form.html",
        {"form": form, "hint": _sample_size_hint(request.POST.get("per_label") or "126")},
    )


def _sample_size_hint(value: str) -> dict | None:
    try:
        n = int(value)
    except ValueError:
        return None
    if n < 1:
        return None
    return {
        "n": n,
        "at_50": 100 * wilson_half_width(n, 0.5),
        "at_80": 100 * wilson_half_width(n, 0.8),
    }


@require_GET
@login_required
def sample_size_hint(request):
    return render(
        request,
        "annotation/audit_form.html#hint",
        {"hint": _sample_size_hint(request.GET.get("per_label", ""))},
    )
