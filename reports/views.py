"""Report pages and downloads: thin views over the snapshot selectors and exports."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from . import aggregation, exports, presenters, references, selectors
from .access import can_recompute, dataset_for_maintainer, report_audit_for
from .forms import ReferenceCsvForm, reference_formset
from .models import Snapshot

TABS = {"labels": "reports/labels.html", "readers": "reports/readers.html",
        "agreement": "reports/agreement.html"}  # fmt: skip


def _context(request, audit, roles: set[str], tab: str) -> dict:
    state = selectors.report_state(audit)
    context = {
        "audit": audit,
        "tab": tab,
        "state": state,
        "snapshot": state.snapshot,
        "can_recompute": can_recompute(roles),
        "can_edit_claims": "manager" in roles,
        "sort": request.GET.get("sort", ""),
    }
    if state.snapshot is not None:
        context.update(presenters.page(state.snapshot, context["sort"]))
    return context


def _tab(tab: str):
    @login_required
    def view(request, audit_id):
        audit, roles = report_audit_for(request.user, audit_id)
        context = _context(request, audit, roles, tab)
        if tab == "labels":
            context["history"] = selectors.snapshot_history(audit)
        if request.htmx and request.GET.get("part") == "status":
            return render(request, "reports/base.html#status", context)
        return render(request, TABS[tab], context)

    view.__name__ = f"report_{tab}"
    return view


dashboard = _tab("labels")
readers = _tab("readers")
agreement = _tab("agreement")


@require_POST
@login_required
def recompute(request, audit_id):
    audit, roles = report_audit_for(request.user, audit_id)
    if not can_recompute(roles):
        raise Http404("No such audit")
    snapshot = aggregation.recompute_now(audit, user=request.user)
    if snapshot is None:
        messages.info(request, "Recomputing: the figures update when the worker is done.")
    else:
        messages.success(
            request, f"Figures recomputed ({snapshot.created_at:%Y-%m-%d %H:%M:%S} UTC)."
        )
    return redirect("reports:dashboard", audit.pk)


@login_required
def download(request, audit_id):
    """?format=csv|json|html (csv by default), ?snapshot=<id> (the latest by default)."""
    audit, _roles = report_audit_for(request.user, audit_id)
    response = report_file(audit, request.GET.get("format", "csv"), request.GET.get("snapshot"))
    if response is None:
        messages.info(request, "No figures to download yet: the first aggregation is running.")
        return redirect("reports:dashboard", audit.pk)
    return response


def report_file(audit, fmt: str, wanted: str | None) -> HttpResponse | None:
    """The report of a snapshot (`wanted` id, else the latest) as a download; None before the
    first aggregation. Shared by the page and the API (token-reachable, for scripts)."""
    if fmt not in exports.FORMATS:
        raise Http404(f"Unknown report format {fmt!r} (csv, json or html)")
    if wanted:
        try:
            snapshot = selectors.snapshot_by_id(audit, int(wanted), matrices=fmt == "json")
        except (ValueError, Snapshot.DoesNotExist):
            raise Http404("No such snapshot") from None
    else:
        if selectors.report_state(audit).snapshot is None:
            return None
        snapshot = selectors.latest_snapshot(audit, results=True, matrices=fmt == "json")
    content, content_type = exports.render(snapshot, fmt)
    response = HttpResponse(content, content_type=content_type)
    name = f"{slugify(audit.name) or 'audit'}-report-{snapshot.pk}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def reference_accuracy(request, slug):
    """Maintainers and admins enter the paper's claimed accuracy per label (form or CSV)."""
    dataset = dataset_for_maintainer(request.user, slug)
    labels = list(dataset.labels.order_by("name"))
    formset = reference_formset(labels, data=request.POST if "save" in request.POST else None)
    upload = ReferenceCsvForm(
        request.POST if "upload" in request.POST else None,
        request.FILES if "upload" in request.POST else None,
    )
    if request.method == "POST":
        try:
            if "upload" in request.POST and upload.is_valid():
                changed = references.import_reference_csv(
                    dataset=dataset, handle=upload.cleaned_data["file"],
                    name=upload.cleaned_data["file"].name,
                )  # fmt: skip
                messages.success(request, f"Claimed accuracy read for {changed} label(s).")
                return redirect("reports:reference_accuracy", dataset.slug)
            if "save" in request.POST and formset.is_valid():
                changed = references.set_reference_accuracies(
                    dataset=dataset, values=formset.values()
                )
                messages.success(request, f"Claimed accuracy saved ({changed} label(s) changed).")
                return redirect("reports:reference_accuracy", dataset.slug)
        except references.ReferenceError as error:
            messages.error(request, str(error))
    return render(
        request,
        "reports/reference_accuracy.html",
        {
            "dataset": dataset,
            "formset": formset,
            "upload": upload,
            "rows": zip(labels, formset, strict=False),
        },
    )
