"""Downloads of a snapshot: tidy CSV, JSON (everything, with the raw matrices) and a standalone
HTML page. Used by the views, the API and `manage.py audit_report` alike."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.template.loader import render_to_string

from . import presenters
from .csv_cells import safe_row
from .models import Snapshot

CSV_HEADER = [
    "label",
    "reader",
    "scale",
    "statistic",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "method",
    "note",
]

METHODS = {
    "accuracy": "(green + orange) / n, n = images the reader (or the consensus) gave a verdict; "
    "orange gets the benefit of the doubt, as in the original audit",
    "strict_accuracy": "green / n",
    "wilson": "Wilson (1927) score interval, 95%",
    "clopper_pearson": "Clopper & Pearson (1934) exact interval, 95%",
    "consensus": "the majority verdict of the readers who marked the image; a tie is orange; "
    "an adjudicated verdict overrides",
    "difference": "accuracy minus the paper's claimed accuracy; flagged when the claim lies "
    "outside the Wilson interval",
    "cohen_kappa": "Cohen (1960), unweighted and linearly weighted (Cohen 1968) on red < orange "
    "< green, and unweighted on the binary collapse; standard error of Fleiss, Cohen & Everitt "
    "(1969); pairs with fewer shared images than the minimum are left out",
    "fleiss_kappa": "Fleiss (1971), over the images every reader of the label marked; interval by "
    "bootstrap over images",
    "krippendorff_alpha": "Krippendorff (2011), nominal and ordinal, every image with 2+ ratings; "
    "interval by bootstrap over images",
    "gwet_ac1": "Gwet (2008), analytic variance, t interval",
    "percent_agreement": "share of agreeing reader pairs, averaged over images with 2+ ratings",
    "binary": "red vs not red (orange and green count as label right)",
    "tags": "unit: a reader's mark; share of marks with the tag (Wilson interval), accuracy of "
    "marks with and without it",
    "undefined": "a coefficient that cannot be computed (e.g. every rating in one category) is "
    "null with its reason, never 0 or 1",
}


def _proportion_rows(label: str, who: str, block: dict) -> Iterator[list[Any]]:
    n = block["n"]
    for key in ("green", "orange", "red", "unmarked"):
        yield [label, who, "three_level", f"count_{key}", block[key], None, None, n, "", ""]
    for statistic, wilson, cp in (
        ("accuracy", "accuracy_wilson", "accuracy_cp"),
        ("strict_accuracy", "strict_wilson", "strict_cp"),
    ):
        value = block[statistic]
        yield [label, who, "binary", statistic, value, *block[wilson], n, "wilson", ""]
        yield [label, who, "binary", statistic, value, *block[cp], n, "clopper-pearson", ""]
    if block.get("reference") is not None:
        yield [
            label,
            who,
            "binary",
            "claimed_accuracy",
            block["reference"],
            None,
            None,
            None,
            "",
            "",
        ]
        flag = "claim outside the Wilson interval" if block.get("claim_outside_wilson") else ""
        yield [label, who, "binary", "difference", block["difference"], None, None, n, "", flag]


def _estimate_row(label, who, scale, statistic, estimate: dict) -> list[Any]:
    return [
        label,
        who,
        scale,
        statistic,
        estimate.get("value"),
        estimate.get("ci_low"),
        estimate.get("ci_high"),
        estimate.get("n_items"),
        estimate.get("method", ""),
        estimate.get("reason") or "",
    ]


def csv_rows(snapshot: Snapshot) -> Iterator[list[Any]]:
    """One row per label x reader x statistic (tidy)."""
    results = snapshot.results
    names = {str(reader["id"]): reader["name"] for reader in results["readers"]}
    for label in results["labels"]:
        yield from _proportion_rows(label["name"], "consensus", label["consensus"])
        for reader_id, block in label["readers"].items():
            yield from _proportion_rows(label["name"], names[reader_id], block)
        for scale, agreement in label["agreement"].items():
            for statistic in ("fleiss", "krippendorff_nominal", "krippendorff_ordinal", "gwet_ac1"):
                yield _estimate_row(
                    label["name"], "all readers", scale, statistic, agreement[statistic]
                )
            yield _estimate_row(
                label["name"], "all readers", scale, "percent_agreement",
                agreement["percent_agreement"],
            )  # fmt: skip
        for pair in label["pairs"]:
            who = f"{names[str(pair['a'])]} | {names[str(pair['b'])]}"
            if "kappa" not in pair:
                yield [label["name"], who, "three_level", "cohen_kappa", None, None, None,
                       pair["n_shared"], "", pair["reason"]]  # fmt: skip
                continue
            for key, scale, statistic in (
                ("kappa", "three_level", "cohen_kappa"),
                ("kappa_linear", "three_level", "cohen_kappa_linear"),
                ("kappa_binary", "binary", "cohen_kappa"),
            ):
                row = _estimate_row(label["name"], who, scale, statistic, pair[key])
                row[7] = pair["n_shared"]
                yield row
        for tag in label["tags"]:
            yield [label["name"], "all readers", "tag", f"share_marked:{tag['name']}",
                   tag["share"], *tag["share_wilson"], tag["of"], "wilson", ""]  # fmt: skip
            for side in ("with", "without"):
                block = tag[side]
                yield [label["name"], "all readers", "tag", f"accuracy_{side}:{tag['name']}",
                       block["accuracy"], *block["accuracy_wilson"], block["n"], "wilson", ""]  # fmt: skip


def to_csv(snapshot: Snapshot) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in csv_rows(snapshot):
        writer.writerow(safe_row(row))
    return out.getvalue()


def to_dict(snapshot: Snapshot, *, matrices: bool = True) -> dict[str, Any]:
    results = snapshot.results
    out = {
        "snapshot": {
            "id": snapshot.pk,
            "audit": snapshot.audit_id,
            "created_at": snapshot.created_at.isoformat(),
            "trigger": snapshot.trigger,
            "mark_count": snapshot.mark_count,
            "last_change_id": snapshot.last_change_id,
            "change_count": snapshot.change_count,
            "adjudication_count": snapshot.adjudication_count,
            "input_digest": snapshot.input_digest,
            "code_version": snapshot.code_version,
            "parameters": snapshot.parameters,
            "duration_ms": snapshot.duration_ms,
        },
        "methods": METHODS,
        "results": results,
    }
    if matrices:
        out["matrices"] = {
            "coding": {"0": "red", "1": "orange", "2": "green", "null": "not marked"},
            "layout": "per label: ratings is readers x samples, in the order of readers and samples",
            "labels": snapshot.matrices,
        }
    return out


def to_json(snapshot: Snapshot) -> str:
    return json.dumps(to_dict(snapshot), indent=1, allow_nan=False)


def to_html(snapshot: Snapshot) -> str:
    """A standalone page (inline CSS and SVG, no external asset) to share by e-mail."""
    return render_to_string(
        "reports/standalone.html",
        {**presenters.page(snapshot), "methods": METHODS, "snapshot": snapshot},
    )


FORMATS = ("csv", "json", "html")


def render(snapshot: Snapshot, fmt: str) -> tuple[str, str]:
    """(content, content type) of the report in csv, json or html."""
    if fmt == "csv":
        return to_csv(snapshot), "text/csv; charset=utf-8"
    if fmt == "json":
        return to_json(snapshot), "application/json"
    if fmt == "html":
        return to_html(snapshot), "text/html; charset=utf-8"
    raise ValueError(f"unknown report format {fmt!r} (csv, json or html)")
