"""Model audits on the web: upload predictions, a run's summary, creating a model review, and
the model, strata and controls reports. Thin views over reports.model_audit, reports.strata,
annotation.decoys and annotation.shuffled."""

import csv

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation import decoys, shuffled
from annotation.access import audit_for, is_admin, visible_datasets
from annotation.models import Audit
from annotation.services import AuditError
from datasets.models import Dataset, ModelRun
from datasets.predictions import queue_upload

from . import model_audit, strata
from .csv_cells import safe_row
from .model_forms import ModelReviewForm, PredictionsUploadForm
from .roc_svg import roc_svg

REPORT_ROLES = ("researcher", "adjudicator")  # and managers; never a plain reader


def _managed_dataset(user, slug: str) -> Dataset:
    datasets = visible_datasets(user)
    if not is_admin(user):
        datasets = datasets.filter(maintainers=user)
    return get_object_or_404(datasets, slug=slug)


def _managed_run(user, run_id: int) -> ModelRun:
    run = ModelRun.objects.select_related("dataset").filter(pk=run_id).first()
    if run is None:
        raise Http404("No such model run")
    _managed_dataset(user, run.dataset.slug)
    return run


@login_required
def model_runs(request, slug):
    dataset = _managed_dataset(request.user, slug)
    form = PredictionsUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = queue_upload(
                dataset=dataset,
                name=form.cleaned_data["name"],
                upload=form.cleaned_data["file"],
                fmt=form.cleaned_data["layout"],
                description=form.cleaned_data["description"],
                user=request.user,
            )
        except ValueError as error:
            form.add_error(None, str(error))
        else:
            return redirect("model_audits:run", run.pk)
    return render(
        request,
        "reports/model_runs.html",
        {"dataset": dataset, "runs": dataset.model_runs.all(), "form": form},
    )


@login_required
def model_run(request, run_id):
    run = _managed_run(request.user, run_id)
    if run.status != ModelRun.Status.READY:
        # Queued, importing or refused: the page follows the import (htmx, every second).
        template = "reports/model_run.html#import" if request.htmx else "reports/model_run.html"
        return render(request, template, {"run": run})
    form = ModelReviewForm(request.POST or None, run=run, initial={"name": f"{run.name} review"})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        names = [name.strip() for name in data["readers"].split(",") if name.strip()]
        readers = list(get_user_model().objects.filter(username__in=names))
        missing = sorted(set(names) - {user.username for user in readers})
        if missing:
            form.add_error("readers", f"unknown user(s): {', '.join(missing)}")
        else:
            try:
                audit = model_audit.create_model_review(
                    run=run, name=data["name"], labels=list(data["labels"]) or None,
                    thresholds=form.thresholds(), per_cell=data["per_cell"],
                    grid_size=data["grid_size"], seed=data["seed"],
                    one_per_patient=data["one_per_patient"],
                    view_filter=data["view_filter"] or "", blinded=data["blinded"],
                    readers=readers, created_by=request.user,
                )  # fmt: skip
            except AuditError as error:
                form.add_error(None, str(error))
            else:
                return redirect("annotation:audit", audit.pk)
    return render(
        request,
        "reports/model_run.html",
        {
            "run": run,
            "rows": model_audit.cached_run_summary(run),
            "form": form,
            "audits": run.audits.all(),
        },
    )


@login_required
def model_report(request, audit_id):
    audit = audit_for(request.user, audit_id, *REPORT_ROLES)
    if audit.kind != Audit.Kind.MODEL_REVIEW:
        raise Http404("Not a model review")
    reports = model_audit.model_report(audit)
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="model-report-{audit.pk}.csv"'
        writer = csv.writer(response)
        writer.writerow(model_audit.CSV_HEADER)
        writer.writerows(safe_row(row) for row in model_audit.report_rows(reports))
        return response
    for report in reports:
        report.svg = roc_svg(
            [report.auc_all, report.auc_reviewed_dataset, report.auc_reviewed_readers],
            title=f"ROC curves of {audit.model_run.name} for {report.label.name}",
        )
    return render(request, "reports/model_report.html", {"audit": audit, "reports": reports})


@login_required
def strata_report(request, audit_id):
    audit = audit_for(request.user, audit_id, *REPORT_ROLES)
    return render(
        request,
        "reports/model_strata.html",
        {
            "audit": audit,
            "labels": strata.strata_report(audit),
            "is_model": audit.kind == Audit.Kind.MODEL_REVIEW,
        },
    )


@login_required
def controls_report(request, audit_id):
    audit = audit_for(request.user, audit_id, *REPORT_ROLES)
    return render(
        request,
        "reports/model_controls.html",
        {
            "audit": audit,
            "vigilance": decoys.reader_vigilance(audit),
            "decoys": audit.samples.filter(is_decoy=True).count(),
            "shuffled": shuffled.shuffled_check(audit)
            if audit.kind == Audit.Kind.SHUFFLED
            else None,
        },
    )


@require_POST
@login_required
def run_delete(request, run_id):
    run = _managed_run(request.user, run_id)
    if run.audits.exists():
        messages.error(request, f"{run.name} is used by an audit and cannot be deleted.")
        return redirect("model_audits:run", run.pk)
    slug = run.dataset.slug
    run.delete()
    messages.success(request, "Model run deleted.")
    return redirect("model_audits:runs", slug)
