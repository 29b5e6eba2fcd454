"""Dataset services: importing label files and merging labels.

Called alike by the management commands, the admin, the API and the tests.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.db.models import Count
from django.utils.text import slugify

from . import bulk
from .importers import GenericOptions, LabelFileError, ParsedFile, chestxray14, chexpert, generic
from .models import Dataset, ImageLabel, Label
from .paths import allowed_root, index_files


@dataclass
class ImportSummary:
    dataset: Dataset
    images: int
    patients: int
    label_counts: dict[str, int]
    not_found: int
    new_images: int
    # Images whose file name matched several files under the root: the first one is used.
    ambiguous: list[str] = field(default_factory=list)


Progress = Callable[[int], None]


def parse_label_file(
    fmt: str,
    labels: Path,
    *,
    generic_options: GenericOptions | None = None,
    progress: Progress | None = None,
) -> ParsedFile:
    if fmt == "chestxray14":
        return chestxray14.parse(labels, progress)
    if fmt == "chexpert":
        return chexpert.parse(labels, progress)
    if fmt == "generic":
        return generic.parse(labels, generic_options or GenericOptions(), progress)
    raise ValueError(f"unknown format {fmt!r}")


def import_dataset(
    *,
    name: str,
    fmt: str,
    labels: Path,
    images: Path | None = None,
    generic_options: GenericOptions | None = None,
    progress: Progress | None = None,
    stage: Callable[[str], None] | None = None,
    user=None,
) -> ImportSummary:
    """Import a label file into the dataset `name` (created if new), all or nothing.

    Raises LabelFileError (file, line, reason) for a bad file and PathRefused for an image
    folder outside settings.DATASET_ROOTS; nothing is written in either case. `progress` gets
    the bytes of the label file read so far; `stage` a line for each step after the reading.
    """
    root = allowed_root(images) if images else None
    parsed = parse_label_file(fmt, Path(labels), generic_options=generic_options, progress=progress)
    if stage and root is not None:
        stage(f"looking for the image files under {root}")
    locations, ambiguous = _locate(parsed, root)
    if stage:
        pairs = sum(len(image.labels) for image in parsed.images)
        stage(f"writing {len(parsed.images):,} images and {pairs:,} image labels")

    with transaction.atomic():
        bulk.lock_for_import()
        dataset, created = Dataset.objects.get_or_create(
            name=name, defaults={"slug": _unique_slug(name), "format": fmt, "created_by": user}
        )
        if not created and dataset.format != fmt:
            raise LabelFileError(
                labels, None, f"dataset {name!r} holds {dataset.format} files, not {fmt}"
            )
        if root is not None:
            dataset.root = str(root)
        dataset.label_file = str(labels)
        dataset.save()
        label_ids = _ensure_labels(dataset, parsed)
        before = dataset.images.count()
        fresh = before == 0
        rows = [
            bulk.image_row(dataset.pk, image, locations.get(image.key) is not None)
            for image in _with_paths(parsed, locations)
        ]
        with bulk.foreign_keys_suspended(len(rows), fresh=fresh):
            if fresh:
                reserved = bulk.reserve_ids(len(rows))
                bulk.write_images(rows, fresh=True, ids=reserved)
                ids = {
                    image.key: image_id
                    for image, image_id in zip(parsed.images, reserved, strict=True)
                }
            else:
                bulk.write_images(rows, fresh=False)
                ids = bulk.image_ids(dataset.pk)
            del rows
            bulk.write_image_labels(
                [(ids[image.key], label_ids[label], value)
                 for image in parsed.images for label, value in image.labels.items()],
                fresh=fresh,
            )  # fmt: skip
        from annotation import audit_log  # imported here: annotation depends on datasets

        audit_log.record(
            "dataset.imported",
            actor=user,
            actor_label="manage.py",
            dataset=dataset,
            target=Path(labels).name,
            format=fmt,
            rows=len(parsed.images),
        )
        bulk.refresh_statistics()
    if stage:
        stage("counting")
    summary = summarise(dataset)
    summary.new_images = summary.images - before
    summary.ambiguous = ambiguous
    return summary


def summarise(dataset: Dataset) -> ImportSummary:
    images = dataset.images
    counts = dict(
        # By the label's dataset: an image and its labels share one, and this skips a join.
        ImageLabel.objects.filter(label__dataset=dataset, value=ImageLabel.Value.POSITIVE)
        .values_list("label__name")
        .annotate(n=Count("id"))
        .order_by("-n", "label__name")
    )
    for label in dataset.labels.filter(kind=Label.Kind.MERGED):
        counts[label.name] = label.images().count()
    return ImportSummary(
        dataset=dataset,
        images=images.count(),
        patients=images.exclude(patient_id="").values("patient_id").distinct().count(),
        label_counts=counts,
        not_found=images.filter(file_found=False).count(),
        new_images=0,
    )


@transaction.atomic
def merge_labels(*, dataset: Dataset, name: str, members: list[str]) -> Label:
    """Create (or redefine) a merged label whose images are those of any member label.

    Members may be named by a label's name or one of its aliases.
    """
    if len(set(members)) < 2:
        raise ValueError("a merged label needs at least two members")
    by_name = {}
    for label in dataset.labels.all():
        for spelling in (label.name, *label.aliases):
            by_name.setdefault(spelling, label)
    missing = [member for member in members if member not in by_name]
    if missing:
        known = ", ".join(dataset.labels.values_list("name", flat=True))
        raise ValueError(
            f"unknown label(s) {', '.join(missing)} in {dataset.slug} (known: {known})"
        )
    chosen = [by_name[member] for member in members]
    if any(label.kind == Label.Kind.MERGED for label in chosen):
        raise ValueError("a merged label cannot contain another merged label")
    merged, _ = Label.objects.get_or_create(
        dataset=dataset, name=name, defaults={"kind": Label.Kind.MERGED}
    )
    if merged.kind != Label.Kind.MERGED:
        raise ValueError(f"{name!r} is already a label of the file, not a merged label")
    merged.members.set(chosen)
    return merged


def _ensure_labels(dataset: Dataset, parsed: ParsedFile) -> dict[str, int]:
    existing = {label.name: label for label in dataset.labels.all()}
    for name, kind in parsed.label_kinds.items():
        label = existing.get(name)
        if label is None:
            existing[name] = Label.objects.create(
                dataset=dataset, name=name, kind=kind, aliases=parsed.label_aliases.get(name, [])
            )
    return {name: label.pk for name, label in existing.items()}


def _locate(parsed: ParsedFile, root: Path | None) -> tuple[dict[str, str], list[str]]:
    """Image key -> the path found under root; keys not found are absent."""
    if root is None:
        return {}, []
    index = index_files(root)
    relative_paths = {path for paths in index.values() for path in paths}
    found: dict[str, str] = {}
    ambiguous: list[str] = []
    for image in parsed.images:
        if image.path in relative_paths:
            found[image.key] = image.path
            continue
        # CheXpert paths start with the dataset's own folder name: accept a root that is it.
        first, _, rest = image.path.partition("/")
        if rest and first == root.name and rest in relative_paths:
            found[image.key] = rest
            continue
        if "/" not in image.path and image.path in index:
            candidates = index[image.path]
            found[image.key] = candidates[0]
            if len(candidates) > 1:
                ambiguous.append(image.key)
    return found, ambiguous


def _with_paths(parsed: ParsedFile, locations: dict[str, str]):
    for image in parsed.images:
        located = locations.get(image.key)
        if located is not None:
            image.path = located
        yield image


def _unique_slug(name: str) -> str:
    base = slugify(name) or "dataset"
    slug, n = base, 2
    while Dataset.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug
