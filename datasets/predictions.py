"""Uploading a model's predictions: parse a CSV in one of two layouts, refuse it whole on the
first bad line, then write every score in one transaction with the fastest bulk path.

Layouts (the header decides; `fmt` may force one):
* long: three columns `image,label,score` (one row per image and label);
* wide: an image column, then one column per label (`image,Atelectasis,Effusion,...`).

The image column may be named image, image_index, "Image Index", key or path; it holds the
dataset's own image name (its key) or the image's path. Label names match the dataset's labels
or their aliases, case-insensitively. A score is any finite number (probability or logit).
In the wide layout an empty cell means "no score for this image and label".
"""

import csv
import io
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from .importers.base import CsvRows, LabelFileError
from .models import Dataset, Image, Label, ModelRun

IMAGE_COLUMNS = ("image", "image_index", "image index", "key", "path", "image_id", "filename")
LONG_LABEL = ("label", "finding")
LONG_SCORE = ("score", "probability", "prob", "prediction", "logit")
FORMATS = ("auto", "long", "wide")

Progress = Callable[[int], None]


class PredictionFileError(LabelFileError):
    """A predictions file refused whole: the file, the line (1-based) and the reason."""


@dataclass
class ParsedPredictions:
    layout: str
    # (image id, label id, score) rows, each pair once.
    rows: list[tuple[int, int, float]]
    labels: list[Label]


@dataclass
class UploadSummary:
    run: ModelRun
    layout: str
    predictions: int
    images: int
    labels: list[str]


def _label_lookup(dataset: Dataset) -> dict[str, Label]:
    lookup: dict[str, Label] = {}
    for label in dataset.labels.all():
        for name in (label.name, *label.aliases):
            lookup.setdefault(name.strip().lower(), label)
    return lookup


def _image_lookup(dataset: Dataset) -> dict[str, int]:
    """Key and path -> image id; read with one cursor (112,120 rows on the NIH file)."""
    lookup: dict[str, int] = {}
    for pk, key, path in Image.objects.filter(dataset=dataset).values_list("pk", "key", "path"):
        lookup[key] = pk
        if path:
            lookup.setdefault(path, pk)
    return lookup


def _score(text: str, path: Path, line: int, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PredictionFileError(path, line, f"{where}: score {text!r} is not a number") from None
    if not math.isfinite(value):
        raise PredictionFileError(path, line, f"{where}: score {text!r} is not a finite number")
    return value


def parse_predictions(
    dataset: Dataset, path: Path, *, fmt: str = "auto", progress: Progress | None = None
) -> ParsedPredictions:
    """Read and check the whole file; raises PredictionFileError on the first bad line."""
    try:
        return _parse(dataset, path, fmt, progress)
    except PredictionFileError:
        raise
    except LabelFileError as error:  # the CSV reader's own (encoding, gzip, quoting) errors
        raise PredictionFileError(error.path, error.line, error.reason) from None


def _parse(dataset: Dataset, path: Path, fmt: str, progress: Progress | None) -> ParsedPredictions:
    if fmt not in FORMATS:
        raise ValueError(f"unknown layout {fmt!r} (known: {', '.join(FORMATS)})")
    reader = CsvRows(Path(path), progress)
    records = iter(reader)
    first = next(records, None)  # reading the first record fills reader.header
    header = [name.lower() for name in reader.header]
    if not header:
        raise PredictionFileError(path, None, "empty file: no header line")
    image_column = next((i for i, name in enumerate(header) if name in IMAGE_COLUMNS), None)
    if image_column is None:
        raise PredictionFileError(
            path, 1, f"no image column (name one of: {', '.join(IMAGE_COLUMNS)}); "
            f"the header has: {', '.join(reader.header)}",
        )  # fmt: skip
    is_long = any(name in LONG_LABEL for name in header) and any(
        name in LONG_SCORE for name in header
    )
    layout = "long" if (fmt == "auto" and is_long) or fmt == "long" else "wide"
    labels = _label_lookup(dataset)
    images = _image_lookup(dataset)
    rows: list[tuple[int, int, float]] = []
    seen: set[tuple[int, int]] = set()
    used: dict[int, Label] = {}

    def image_of(row: list[str], line: int) -> int:
        name = row[image_column].strip()
        image_id = images.get(name)
        if image_id is None:
            shown = name if len(name) < 80 else name[:77] + "..."
            raise PredictionFileError(path, line, f"image {shown!r} is not in {dataset.name}")
        return image_id

    def check_width(row: list[str], line: int) -> None:
        if len(row) != len(header):
            raise PredictionFileError(
                path, line, f"{len(row)} cells where the header has {len(header)}"
            )

    def records_all():
        if first is not None:
            yield first
        yield from records

    if layout == "long":
        label_column = next((i for i, name in enumerate(header) if name in LONG_LABEL), None)
        score_column = next((i for i, name in enumerate(header) if name in LONG_SCORE), None)
        if label_column is None or score_column is None:
            raise PredictionFileError(
                path, 1, "the long layout needs columns image, label and score; "
                f"the header has: {', '.join(reader.header)}",
            )  # fmt: skip
        for line, row in records_all():
            check_width(row, line)
            image_id = image_of(row, line)
            name = row[label_column].strip()
            label = labels.get(name.lower())
            if label is None:
                raise PredictionFileError(
                    path, line, f"label {name!r} is not a label of {dataset.name}"
                )
            pair = (image_id, label.pk)
            if pair in seen:
                raise PredictionFileError(
                    path, line, f"a second score for image {row[image_column].strip()!r} and {label.name}"
                )  # fmt: skip
            seen.add(pair)
            used[label.pk] = label
            rows.append(
                (image_id, label.pk, _score(row[score_column].strip(), path, line, label.name))
            )
    else:
        columns: list[tuple[int, Label]] = []
        for index, name in enumerate(reader.header):
            if index == image_column:
                continue
            label = labels.get(name.strip().lower())
            if label is None:
                raise PredictionFileError(
                    path, 1, f"column {name!r} is not a label of {dataset.name} "
                    f"(its labels: {', '.join(sorted(lb.name for lb in dataset.labels.all()))})",
                )  # fmt: skip
            if label.pk in used:
                raise PredictionFileError(path, 1, f"two columns name the label {label.name}")
            used[label.pk] = label
            columns.append((index, label))
        if not columns:
            raise PredictionFileError(path, 1, "no label column besides the image column")
        seen_images: set[int] = set()
        for line, row in records_all():
            check_width(row, line)
            image_id = image_of(row, line)
            if image_id in seen_images:
                raise PredictionFileError(
                    path, line, f"image {row[image_column].strip()!r} appears twice"
                )
            seen_images.add(image_id)
            for index, label in columns:
                text = row[index].strip()
                if text:
                    rows.append((image_id, label.pk, _score(text, path, line, label.name)))
    if not rows:
        raise PredictionFileError(path, None, "no prediction in the file")
    return ParsedPredictions(layout, rows, sorted(used.values(), key=lambda lb: lb.name))


def _check_name(dataset: Dataset, name: str) -> str:
    name = name.strip()
    if not name:
        raise ValueError("the model run needs a name")
    # A refused upload only keeps its reason: its name may be used again.
    ModelRun.objects.filter(dataset=dataset, name=name, status=ModelRun.Status.FAILED).delete()
    if ModelRun.objects.filter(dataset=dataset, name=name).exists():
        raise ValueError(f"{dataset.name} already has a model run named {name!r}")
    return name


def _store(run: ModelRun, parsed: ParsedPredictions) -> None:
    """The scores, the labels and the status "ready", in the caller's transaction."""
    run.labels.set(parsed.labels)
    write_predictions(run.pk, parsed.rows)
    run.predictions_count = len(parsed.rows)
    run.status = ModelRun.Status.READY
    run.upload_path = ""
    run.save(update_fields=["predictions_count", "status", "upload_path"])


def _summary(run: ModelRun, parsed: ParsedPredictions) -> UploadSummary:
    return UploadSummary(
        run=run,
        layout=parsed.layout,
        predictions=len(parsed.rows),
        images=len({row[0] for row in parsed.rows}),
        labels=[label.name for label in parsed.labels],
    )


def upload_predictions(
    *,
    dataset: Dataset,
    name: str,
    path: Path,
    fmt: str = "auto",
    description: str = "",
    user=None,
    source_name: str = "",
    progress: Progress | None = None,
) -> UploadSummary:
    """Parse the file and store it as a new model run, all or nothing (the command's path)."""
    name = _check_name(dataset, name)
    parsed = parse_predictions(dataset, Path(path), fmt=fmt, progress=progress)
    with transaction.atomic():
        run = ModelRun.objects.create(
            dataset=dataset,
            name=name,
            description=description,
            source_file=source_name or Path(path).name,
            uploaded_by=user,
            layout=fmt,
        )
        _store(run, parsed)
    return _summary(run, parsed)


def queue_upload(
    *,
    dataset: Dataset,
    name: str,
    upload,
    fmt: str = "auto",
    description: str = "",
    user=None,
) -> ModelRun:
    """The web path: keep the uploaded file under MEDIA_ROOT (shared with the workers) and
    queue its import; the run's page follows the progress and shows a refusal's reason."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown layout {fmt!r} (known: {', '.join(FORMATS)})")
    name = _check_name(dataset, name)
    folder = Path(settings.MEDIA_ROOT) / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".csv.gz" if upload.name.endswith(".gz") else ".csv"
    target = folder / f"{uuid.uuid4().hex}{suffix}"
    with open(target, "wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    with transaction.atomic():
        run = ModelRun.objects.create(
            dataset=dataset, name=name, description=description, source_file=upload.name[:1000],
            uploaded_by=user, status=ModelRun.Status.QUEUED, upload_path=str(target),
            layout=fmt, bytes_total=target.stat().st_size,
        )  # fmt: skip
        from .prediction_tasks import import_predictions

        transaction.on_commit(lambda: import_predictions.delay(run.pk))
    return run


def import_queued(run_id: int) -> ModelRun | None:
    """Import a queued upload: claimed with a conditional update (a second run of the task
    finds nothing to do); a refused file sets the status "refused" with the line and reason,
    and writes no score. The uploaded file is removed either way."""
    claimed = ModelRun.objects.filter(pk=run_id, status=ModelRun.Status.QUEUED).update(
        status=ModelRun.Status.IMPORTING, bytes_done=0
    )
    if not claimed:
        return None
    run = ModelRun.objects.select_related("dataset").get(pk=run_id)
    path = Path(run.upload_path)
    last = [0.0]

    def progress(done: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5:  # a progress write every half second is plenty for a page
            last[0] = now
            ModelRun.objects.filter(pk=run_id).update(bytes_done=done)

    try:
        parsed = parse_predictions(run.dataset, path, fmt=run.layout, progress=progress)
        with transaction.atomic():
            run.bytes_done = run.bytes_total
            run.save(update_fields=["bytes_done"])
            _store(run, parsed)
    except LabelFileError as error:
        ModelRun.objects.filter(pk=run_id).update(
            status=ModelRun.Status.FAILED, error=error.reason, error_line=error.line,
            upload_path="",
        )  # fmt: skip
    except Exception as error:
        ModelRun.objects.filter(pk=run_id).update(
            status=ModelRun.Status.FAILED, error=f"{type(error).__name__}: {error}",
            upload_path="",
        )  # fmt: skip
        raise
    finally:
        path.unlink(missing_ok=True)
    run.refresh_from_db()
    return run


def write_predictions(run_id: int, rows: list[tuple[int, int, float]]) -> None:
    """COPY on PostgreSQL, one executemany on SQLite: ORM bulk_create of 1.5 million rows
    builds 1.5 million model instances first (see bench/model_audit.py for the figures)."""
    columns = "run_id, image_id, label_id, score"
    # In the order of the (run, label, image) index: appending to a B-tree beats inserting at
    # random places (the wide layout comes image by image).
    rows = sorted(rows, key=lambda row: (row[1], row[0]))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerows((run_id, image_id, label_id, repr(score))
                             for image_id, label_id, score in rows)  # fmt: skip
            buffer.seek(0)
            cursor.cursor.copy_expert(
                f"COPY datasets_prediction ({columns}) FROM STDIN WITH (FORMAT csv)", buffer
            )
        else:
            cursor.executemany(
                f"INSERT INTO datasets_prediction ({columns}) VALUES (%s, %s, %s, %s)",
                [(run_id, image_id, label_id, score) for image_id, label_id, score in rows],
            )


def scores_of(run: ModelRun, label: Label) -> dict[int, float]:
    """image id -> score of one label of a run, read with a plain cursor."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT image_id, score FROM datasets_prediction WHERE run_id = %s AND label_id = %s",
            [run.pk, label.pk],
        )
        return dict(cursor.fetchall())
