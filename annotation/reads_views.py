"""Reference reads uploaded from the browser by an admin or a dataset maintainer: the same
service as `manage.py import_reads`."""

import tempfile
from pathlib import Path

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from datasets.importers import LabelFileError

from .access import audit_for, audit_roles
from .reads import FORMATS, ReadsError, import_reads, parse_mapping

MAX_UPLOAD = 50 * 1024 * 1024


class ReadsForm(forms.Form):
    reader = forms.CharField(max_length=150, help_text="The reader's name, e.g. NIH expert panel.")
    format = forms.ChoiceField(
        choices=[
            ("presence", "presence: one YES/NO column per finding"),
            ("verdicts", "verdicts: image, label, verdict rows"),
        ]
    )
    file = forms.FileField(help_text="CSV, or gzipped CSV.")
    image_column = forms.CharField(required=False, max_length=200)
    mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='One "Their name=Our label" per line.',
    )

    def clean_format(self):
        if self.cleaned_data["format"] not in FORMATS:
            raise forms.ValidationError("unknown format")
        return self.cleaned_data["format"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD:
            raise forms.ValidationError(f"the file is over {MAX_UPLOAD // 2**20} MB")
        return upload


@login_required
def import_page(request, audit_id):
    audit = audit_for(request.user, audit_id)
    if "manager" not in audit_roles(request.user, audit):
        raise Http404("No such audit")
    form = ReadsForm(request.POST or None, request.FILES or None)
    summary = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        upload = data["file"]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "reads.csv"
            with open(path, "wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            try:
                summary = import_reads(
                    audit=audit,
                    reader_name=data["reader"],
                    path=path,
                    fmt=data["format"],
                    image_column=data["image_column"].strip() or None,
                    mapping=parse_mapping(
                        [line for line in data["mapping"].splitlines() if line.strip()]
                    ),
                )
            except LabelFileError as error:
                where = f"{upload.name}, line {error.line}" if error.line else upload.name
                form.add_error("file", f"nothing imported: {where}: {error.reason}")
            except ReadsError as error:
                form.add_error(None, f"nothing imported: {error}")
    return render(
        request,
        "annotation/reads_import.html",
        {
            "audit": audit,
            "form": form,
            "summary": summary,
            # A Counter answers 0 to the template's `.items` lookup: hand it over as pairs.
            "unknown_labels": sorted(summary.unknown_labels.items()) if summary else [],
        },
    )
