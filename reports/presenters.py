"""Snapshot results shaped for the templates.

`build_dashboard(results, figures)` runs once, when the snapshot is written: it keeps only what
the pages show (compact rows, estimates without their method text, the SVG figures) in
Snapshot.dashboard, a few tens of KiB. A page view then reads that field and sorts: nothing is
computed per request.
"""

from __future__ import annotations

from typing import Any

from .models import Snapshot

ESTIMATE_KEYS = ("value", "ci_low", "ci_high", "reason")
READER_CELL_KEYS = ("n", "accuracy", "accuracy_wilson", "strict_accuracy")


def _estimate(block: dict | None) -> dict | None:
    return None if block is None else {key: block.get(key) for key in ESTIMATE_KEYS}


SORT_KEYS = {
    "label": lambda row: row["name"].lower(),
    "n": lambda row: row["n"],
    "accuracy": lambda row: row["accuracy"],
    "strict": lambda row: row["strict"],
    "claim": lambda row: row["claim"],
    "difference": lambda row: row["difference"],
    "alpha": lambda row: row["alpha"],
    "ac1": lambda row: row["ac1"],
}


SORT_COLUMNS = [
    ("label", "Label"),
    ("n", "n"),
    ("accuracy", "Accuracy (95% CI)"),
    ("strict", "Strict accuracy (95% CI)"),
    ("claim", "Paper's claim"),
    ("difference", "Difference"),
    ("alpha", "Krippendorff α (ordinal)"),
    ("ac1", "Gwet AC1"),
]


def _sorted(rows: list[dict], sort: str) -> list[dict]:
    """Sort by a column, `-column` descending; None always last."""
    descending = sort.startswith("-")
    key = SORT_KEYS.get(sort.lstrip("-"))
    if key is None:
        return rows
    present = [row for row in rows if key(row) is not None]
    missing = [row for row in rows if key(row) is None]
    return sorted(present, key=key, reverse=descending) + missing


def label_rows(results: dict, sort: str = "") -> list[dict[str, Any]]:
    rows = []
    for label in results["labels"]:
        block = label["consensus"]
        three = label["agreement"]["three_level"]
        rows.append(
            {
                "id": label["id"],
                "name": label["name"],
                "n": block["n"],
                "samples": label["n_samples"],
                "unmarked": block["unmarked"],
                "counts": {key: block[key] for key in ("green", "orange", "red")},
                "accuracy": block["accuracy"],
                "accuracy_ci": block["accuracy_wilson"],
                "accuracy_cp": block["accuracy_cp"],
                "strict": block["strict_accuracy"],
                "strict_ci": block["strict_wilson"],
                "claim": label["reference"],
                "claim_source": label["reference_source"],
                "difference": block["difference"],
                "flag": bool(block["claim_outside_wilson"]),
                "alpha": three["krippendorff_ordinal"]["value"],
                "alpha_reason": three["krippendorff_ordinal"]["reason"],
                "ac1": three["gwet_ac1"]["value"],
                "ac1_reason": three["gwet_ac1"]["reason"],
                "sources": block.get("sources", {}),
            }
        )
    return _sorted(rows, sort)


def reader_rows(results: dict) -> list[dict[str, Any]]:
    rows = []
    for summary in results["reader_summary"]:
        per_label = []
        for label in results["labels"]:
            block = label["readers"].get(str(summary["id"])) or {}
            per_label.append(
                {"label": label["name"], **{k: block.get(k) for k in READER_CELL_KEYS}}
            )
        rows.append({**summary, "per_label": per_label})
    return rows


def agreement_rows(results: dict, scale: str) -> list[dict[str, Any]]:
    rows = []
    for label in results["labels"]:
        block = label["agreement"][scale]
        names = ("fleiss", "krippendorff_nominal", "krippendorff_ordinal", "gwet_ac1")
        rows.append(
            {
                "name": label["name"],
                "readers": block["readers"],
                "pairable_items": block["pairable_items"],
                "estimates": [_estimate(block[name]) for name in names],
                "percent_agreement": block["percent_agreement"],
                "pair_summary": label["pair_summary"],
            }
        )
    return rows


def pair_rows(results: dict) -> list[dict[str, Any]]:
    names = {reader["id"]: reader["name"] for reader in results["readers"]}
    return [
        {
            "n_shared": pair["n_shared"],
            "reason": pair.get("reason"),
            "a_name": names[pair["a"]],
            "b_name": names[pair["b"]],
            "estimates": [_estimate(pair[key]) for key in ("kappa", "kappa_linear", "kappa_binary")]
            if "kappa" in pair
            else [],
        }
        for pair in results["pooled"]["pairs"]
    ]


def sort_columns(sort: str) -> list[dict[str, str]]:
    """Column headings as links: a click sorts ascending, a second click descending."""
    columns = []
    for key, title in SORT_COLUMNS:
        state = "ascending" if sort == key else "descending" if sort == f"-{key}" else ""
        columns.append(
            {"key": key, "title": title, "sort": f"-{key}" if sort == key else key, "aria": state}
        )
    return columns


def _tag_row(tag: dict) -> dict:
    return {
        "name": tag["name"],
        "marked": tag["marked"],
        "of": tag["of"],
        "share": tag["share"],
        "share_wilson": tag["share_wilson"],
        "with": {key: tag["with"][key] for key in ("n", "accuracy", "accuracy_wilson")},
        "without": {key: tag["without"][key] for key in ("n", "accuracy", "accuracy_wilson")},
    }


def build_dashboard(results: dict, figures: dict[str, str]) -> dict[str, Any]:
    """What the report pages show, stored in the snapshot when it is written."""
    return {
        "audit_info": results.get("audit", {}),
        "labels": label_rows(results),
        "readers": reader_rows(results),
        "label_names": [label["name"] for label in results["labels"]],
        "agreement_three": agreement_rows(results, "three_level"),
        "agreement_binary": agreement_rows(results, "binary"),
        "pairs": pair_rows(results),
        "pair_summary": results["pooled"]["pair_summary"],
        "tags": [_tag_row(tag) for tag in results["pooled"]["tags"]],
        "progress": results["progress"],
        "figures": figures,
        "versions": results.get("versions", {}),
        "flagged": sum(
            1 for label in results["labels"] if label["consensus"]["claim_outside_wilson"]
        ),
    }


def page(snapshot: Snapshot, sort: str = "") -> dict[str, Any]:
    """Template context of a report page: the stored dashboard, its label table sorted."""
    dashboard = snapshot.dashboard
    return {
        **dashboard,
        "labels": _sorted(list(dashboard["labels"]), sort),
        "sort_columns": sort_columns(sort),
    }
