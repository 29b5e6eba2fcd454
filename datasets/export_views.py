"""The relabeled export for maintainers (a page and a streamed download) and the comparison of
two dataset versions. Thin views over datasets.relabeled and datasets.versions."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from annotation.access import is_admin, visible_datasets

from .models import Dataset
from .relabeled import RULES, ExportError, RelabeledRows, csv_chunks, export_problem, preview
from .versions import compare


def _managed_dataset(user, slug: str) -> Dataset:
    """The dataset if the user is an admin or one of its maintainers, else 404."""
    dataset = get_object_or_404(visible_datasets(user), slug=slug)
    if not (is_admin(user) or dataset.maintainers.filter(pk=user.pk).exists()):
        raise Http404("No such dataset")
    return dataset


def _audit_of(dataset: Dataset, raw: str | None):
    if not raw:
        return None
    try:
        return dataset.audits.get(pk=int(raw))
    except (ValueError, dataset.audits.model.DoesNotExist):
        raise Http404("No such audit of this dataset") from None


@require_GET
@login_required
def export_page(request, slug):
    dataset = _managed_dataset(request.user, slug)
    audit = _audit_of(dataset, request.GET.get("audit"))
    return render(
        request,
        "datasets/export.html",
        {
            "dataset": dataset,
            "audits": dataset.audits.order_by("-created_at"),
            "chosen": audit,
            "rules": RULES,
            "problem": export_problem(dataset),
            "preview": preview(dataset, audit),
            "versions": visible_datasets(request.user)
            .filter(format=dataset.format)
            .exclude(pk=dataset.pk),
        },
    )


@require_GET
@login_required
def export_download(request, slug):
    dataset = _managed_dataset(request.user, slug)
    audit = _audit_of(dataset, request.GET.get("audit"))
    rule = request.GET.get("rule", "consensus")
    if rule not in RULES:
        return HttpResponse(
            f"unknown rule {rule!r} (known: {', '.join(RULES)})",
            status=400,
            content_type="text/plain",
        )
    try:
        rows = RelabeledRows(dataset, rule, audit)
    except ExportError as error:
        return HttpResponse(str(error), status=409, content_type="text/plain")
    name = f"{dataset.slug}-relabeled-{rule}" + (f"-audit-{audit.pk}" if audit else "") + ".csv"
    response = StreamingHttpResponse(
        (chunk.encode("utf-8") for chunk in csv_chunks(rows)), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@login_required
def compare_page(request, slug):
    dataset = _managed_dataset(request.user, slug)
    other_slug = request.GET.get("with", "")
    other = get_object_or_404(visible_datasets(request.user), slug=other_slug)
    return render(request, "datasets/export_compare.html", {"comparison": compare(dataset, other)})
