"""The paper's claimed accuracy per label (Label.reference_accuracy), entered by maintainers.

Accepted values: a proportion 0..1 or a percentage with a % sign ("85%", "85.2 %"); blank clears.
A CSV is `label,accuracy[,source]` with a header row; a bad line refuses the whole file, naming
the line and the reason. Every audit of the dataset is then re-aggregated (its comparison
changed).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from django.db import transaction

from annotation.models import Audit
from datasets.models import Dataset, Label

from .aggregation import request_aggregation


class ReferenceError(ValueError):
    """A claimed accuracy that cannot be used; the message names what and where."""


def parse_accuracy(text: str | float | None, where: str = "") -> float | None:
    if text is None:
        return None
    if isinstance(text, float | int):
        value, percent = float(text), False
    else:
        raw = text.strip()
        if not raw:
            return None
        percent = raw.endswith("%")
        try:
            value = float(raw.rstrip("%").strip())
        except ValueError:
            raise ReferenceError(f"{where}{raw!r} is not a number (0.85 or 85%)") from None
    if percent:
        value /= 100
    if not 0 <= value <= 1:
        shown = f"{value * 100:g}%" if percent else f"{value:g}"
        hint = " (write a percentage with a % sign)" if not percent and value <= 100 else ""
        raise ReferenceError(f"{where}accuracy {shown} is outside 0 to 1{hint}")
    return value


def set_reference_accuracies(
    *, dataset: Dataset, values: Iterable[tuple[int, float | None, str]]
) -> int:
    """Save (label id, accuracy or None, source) for labels of the dataset; returns how many
    changed. All or nothing."""
    labels = {label.pk: label for label in dataset.labels.all()}
    changed = []
    with transaction.atomic():
        for label_id, accuracy, source in values:
            label = labels.get(label_id)
            if label is None:
                raise ReferenceError(f"label {label_id} is not a label of {dataset.name}")
            if (label.reference_accuracy, label.reference_source) != (accuracy, source.strip()):
                label.reference_accuracy, label.reference_source = accuracy, source.strip()
                changed.append(label)
        Label.objects.bulk_update(changed, ["reference_accuracy", "reference_source"])
        if changed:
            _reaggregate(dataset)
    return len(changed)


def import_reference_csv(*, dataset: Dataset, handle, name: str = "the file") -> int:
    """Read `label,accuracy[,source]` (header row required); label names or aliases match
    case-insensitively. Returns how many labels changed."""
    raw = handle.read()
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ReferenceError(f"{name}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(raw))
    header = [cell.strip().lower() for cell in next(reader, [])]
    if header[:2] != ["label", "accuracy"]:
        raise ReferenceError(f"{name}, line 1: the header must start with label,accuracy")
    by_name: dict[str, Label] = {}
    for label in dataset.labels.all():
        for spelling in [label.name, *label.aliases]:
            by_name[spelling.strip().lower()] = label
    values, seen = [], {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{name}, line {line}: "
        if len(row) < 2:
            raise ReferenceError(f"{where}expected label,accuracy[,source]")
        label = by_name.get(row[0].strip().lower())
        if label is None:
            raise ReferenceError(f"{where}no label {row[0].strip()!r} in {dataset.name}")
        if label.pk in seen:
            raise ReferenceError(f"{where}{label.name} already given on line {seen[label.pk]}")
        seen[label.pk] = line
        source = row[2].strip() if len(row) > 2 else label.reference_source
        values.append((label.pk, parse_accuracy(row[1], where), source))
    return set_reference_accuracies(dataset=dataset, values=values)


def _reaggregate(dataset: Dataset) -> None:
    for audit_id in Audit.objects.filter(dataset=dataset).values_list("pk", flat=True):
        request_aggregation(audit_id)
