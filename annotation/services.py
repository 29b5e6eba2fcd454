"""Audit services: creating an audit, building its sample set, and the one way to write a mark.

Called alike by the views, the REST API, the management commands, the Celery tasks and tests.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import F

from datasets.models import Dataset, Image, ImageLabel, Label

from . import decoys, sampling, shuffled
from .models import Audit, GridVisit, Mark, MarkChange, Membership, Sample, Tag, Verdict

# (name, keyboard shortcut); the grid already uses g o r n p h j k l and digits.
DEFAULT_TAGS: tuple[tuple[str, str], ...] = (
    ("chest drain", "d"),
    ("pacemaker or ICD", "m"),
    ("lines and tubes", "t"),
    ("rotated or poorly positioned", "w"),
    ("poor exposure", "e"),
    ("foreign object", "f"),
)
RESERVED_KEYS = set("gornphjkl0123456789?")
MAX_GRID_SECONDS = 3600.0  # one report longer than this is a tab left open, not reading


class AuditError(ValueError):
    """A request the audit cannot honour; the message names what was wrong."""


def create_audit(
    *,
    dataset: Dataset,
    name: str,
    labels: Sequence[Label] | None = None,
    per_label: int | None = 126,
    grid_size: int = 18,
    seed: int = 7,
    one_per_patient: bool = True,
    sole_label_only: bool = False,
    view_filter: str = "",
    blinded: bool = True,
    kind: str = Audit.Kind.LABEL_REVIEW,
    decoy_fraction: float = 0.0,
    tags: Sequence[tuple[str, str]] = DEFAULT_TAGS,
    readers: Sequence = (),
    created_by=None,
    build: bool = True,
) -> Audit:
    """Create an audit (labels None: every label of the dataset) and queue its sample set."""
    if not name.strip():
        raise AuditError("the audit needs a name")
    if per_label is not None and per_label < 1:
        raise AuditError(f"images per label must be at least 1, not {per_label}")
    if not 1 <= grid_size <= 60:
        raise AuditError(f"grid size must be between 1 and 60, not {grid_size}")
    if view_filter not in Audit.View.values:
        raise AuditError(f"unknown view filter {view_filter!r} (known: PA, AP or none)")
    chosen = list(dataset.labels.all()) if labels is None else list(labels)
    if not chosen:
        raise AuditError(f"dataset {dataset.slug} has no label to audit")
    strangers = [label.name for label in chosen if label.dataset_id != dataset.pk]
    if strangers:
        raise AuditError(f"label(s) {', '.join(strangers)} are not labels of {dataset.slug}")
    _check_tags(tags)
    if kind not in Audit.Kind.values:
        raise AuditError(f"unknown audit kind {kind!r}")
    if not 0 <= decoy_fraction <= decoys.MAX_DECOY_FRACTION:
        raise AuditError(f"decoy fraction must be between 0 and 0.5, not {decoy_fraction}")
    with transaction.atomic():
        audit = Audit.objects.create(
            dataset=dataset,
            name=name.strip(),
            per_label=per_label,
            grid_size=grid_size,
            seed=seed,
            one_per_patient=one_per_patient,
            sole_label_only=sole_label_only,
            view_filter=view_filter,
            blinded=blinded,
            kind=kind,
            decoy_fraction=decoy_fraction,
            created_by=created_by,
            build_total=len(chosen),
        )
        audit.labels.set(chosen)
        Tag.objects.bulk_create(
            Tag(audit=audit, name=tag, shortcut=key, order=index)
            for index, (tag, key) in enumerate(tags)
        )
        Membership.objects.bulk_create(
            Membership(audit=audit, user=user, role=Membership.Role.READER) for user in readers
        )
        if build:
            from .tasks import build_sample_set as build_task

            transaction.on_commit(lambda: build_task.delay(audit.pk))
    return audit


def _check_tags(tags: Sequence[tuple[str, str]]) -> None:
    names = [name.strip().lower() for name, _ in tags]
    if any(not name for name in names) or len(set(names)) != len(names):
        raise AuditError("tag names must be non-empty and distinct")
    keys = [key for _, key in tags if key]
    if len(set(keys)) != len(keys):
        raise AuditError("two tags share a keyboard shortcut")
    taken = [key for key in keys if key.lower() in RESERVED_KEYS or len(key) != 1]
    if taken:
        raise AuditError(
            f"tag shortcut(s) {', '.join(taken)} are grid keys or not a single character"
        )


# -- the sample set ----------------------------------------------------------------------------


def build_sample_set(*, audit: Audit, progress: Callable[[int], None] | None = None) -> list[int]:
    """Draw and write the audit's sample set; returns the ids of the images drawn.

    Atomic: the samples and the status "ready" are committed together, so readers never see
    half a set. Safe to run twice (or twice at once): a built set is left as it is.
    Progress (labels drawn) is committed as it goes in build_done / build_total.
    """
    labels = list(audit.labels.prefetch_related("members").order_by("name"))
    claimed = Audit.objects.filter(
        pk=audit.pk,
        status__in=[Audit.Status.DRAFT, Audit.Status.FAILED, Audit.Status.BUILDING],
    ).update(status=Audit.Status.BUILDING, build_done=0, build_total=len(labels), build_error="")
    if not claimed:
        return list(audit.samples.values_list("image_id", flat=True))
    try:
        drawn = _draw(audit, labels, progress)
        with transaction.atomic():
            locked = Audit.objects.select_for_update().get(pk=audit.pk)
            if locked.status != Audit.Status.BUILDING:  # another run finished first
                return list(audit.samples.values_list("image_id", flat=True))
            Sample.objects.bulk_create(
                (
                    Sample(audit_id=audit.pk, label_id=label.pk, image_id=chosen.image_id,
                           position=position, cell=getattr(chosen, "cell", ""),
                           is_decoy=getattr(chosen, "is_decoy", False))
                    for label in labels
                    for position, chosen in enumerate(drawn[label.pk])
                ),
                batch_size=2000,
            )  # fmt: skip
            Audit.objects.filter(pk=audit.pk).update(
                status=Audit.Status.READY, build_done=len(labels)
            )
    except Exception as error:
        Audit.objects.filter(pk=audit.pk).update(
            status=Audit.Status.FAILED, build_error=f"{type(error).__name__}: {error}"
        )
        raise
    audit.refresh_from_db()
    return [chosen.image_id for label in labels for chosen in drawn[label.pk]]


def audit_rules(audit: Audit) -> sampling.Rules:
    return sampling.Rules(
        per_label=audit.per_label,
        seed=audit.seed,
        one_per_patient=audit.one_per_patient,
        sole_label_only=audit.sole_label_only,
        view=audit.view_filter,
    )


def _draw(
    audit: Audit, labels: list[Label], progress: Callable[[int], None] | None
) -> dict[int, list[sampling.Candidate]]:
    if audit.kind == Audit.Kind.MODEL_REVIEW:  # modelaudit: cells of a model's calls
        from reports.model_audit import draw_model_review

        return draw_model_review(audit, labels, progress)
    rules = audit_rules(audit)
    sources = {
        label.pk: [member.pk for member in label.members.all()]
        if label.kind == Label.Kind.MERGED
        else [label.pk]
        for label in labels
    }
    wanted = {source for ids in sources.values() for source in ids}
    carriers = (
        shuffled.permuted_carriers(audit.dataset_id, wanted, audit.seed)
        if audit.kind == Audit.Kind.SHUFFLED
        else _carriers(audit.dataset_id, wanted)
    )
    all_labels = _positive_label_names(audit.dataset_id) if rules.sole_label_only else {}
    none: frozenset[str] = frozenset()
    drawn: dict[int, list[sampling.Candidate]] = {}
    for done, label in enumerate(labels, start=1):
        images: dict[int, tuple[str, str, str]] = {}
        for source in sources[label.pk]:
            images.update(carriers.get(source, {}))
        candidates = [
            sampling.Candidate(image_id, key, patient, view, all_labels.get(image_id, none))
            for image_id, (key, patient, view) in images.items()
        ]
        members = [m.name for m in label.members.all()] if label.kind == Label.Kind.MERGED else []
        drawn[label.pk] = sampling.draw(candidates, label=label.name, members=members, rules=rules)
        Audit.objects.filter(pk=audit.pk).update(build_done=done)
        if progress:
            progress(1)
    return decoys.add_decoys(audit, labels, drawn)


def _carriers(dataset_id: int, label_ids: set[int]) -> dict[int, dict[int, tuple[str, str, str]]]:
    """label id -> {image id: (key, patient, view)} of the images carrying it (positive).

    Read with a plain cursor: on the full NIH file this is ~140,000 rows, and model or
    values() rows would cost more than the draw itself.
    """
    query = (
        ImageLabel.objects.filter(
            label_id__in=label_ids,
            value=ImageLabel.Value.POSITIVE,
            image__dataset_id=dataset_id,
        )
        .values_list(
            "label_id", "image_id", "image__key", "image__patient_id", "image__view_position"
        )
        .query
    )
    sql, params = query.sql_with_params()
    result: dict[int, dict[int, tuple[str, str, str]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for label_id, image_id, key, patient, view in cursor.fetchall():
            result.setdefault(label_id, {})[image_id] = (key, patient, view)
    return result


def _positive_label_names(dataset_id: int) -> dict[int, frozenset[str]]:
    names: dict[int, set[str]] = {}
    rows = ImageLabel.objects.filter(
        image__dataset_id=dataset_id, value=ImageLabel.Value.POSITIVE
    ).values_list("image_id", "label__name")
    for image_id, name in rows.iterator(chunk_size=20000):
        names.setdefault(image_id, set()).add(name)
    return {image_id: frozenset(labels) for image_id, labels in names.items()}


# -- marks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    verdict: str
    tags: list[int]
    note: str


def mark_set(
    *,
    sample: Sample,
    reader,
    idempotency_key: str,
    verdict: str | None = None,
    tags: list[int] | None = None,
    note: str | None = None,
) -> Mark:
    """Set the reader's mark on a sample: None leaves that part unchanged, verdict "" clears.

    One transaction; exactly one current Mark per (sample, reader) however many concurrent or
    repeated requests arrive; a MarkChange row for every real change; a repeated
    idempotency_key changes nothing and returns the current mark.
    """
    key = (idempotency_key or "").strip()
    if not key or len(key) > 64:
        raise AuditError("a mark needs an idempotency key of 1 to 64 characters")
    if verdict is not None and verdict not in ("", *Verdict.values):
        raise AuditError(f"unknown verdict {verdict!r} (green, orange, red or empty)")
    if tags is not None:
        tags = sorted(set(tags))
        known = set(Tag.objects.filter(audit_id=sample.audit_id).values_list("pk", flat=True))
        strangers = [tag for tag in tags if tag not in known]
        if strangers:
            raise AuditError(f"tag(s) {strangers} are not tags of this audit")
    if note is not None:
        note = note.strip()
    # Two first marks racing both insert: the loser hits the unique constraint and retries,
    # finding the winner's row; the same holds for two requests with one idempotency key.
    for attempt in range(5):
        try:
            with transaction.atomic():
                return _mark_set_once(sample, reader, key, verdict, tags, note)
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def _mark_set_once(sample, reader, key, verdict, tags, note) -> Mark:
    mark = (
        Mark.objects.select_for_update().filter(sample=sample, reader=reader).first()
        if connection.features.has_select_for_update
        else Mark.objects.filter(sample=sample, reader=reader).first()
    )
    done = MarkChange.objects.filter(reader=reader, idempotency_key=key).first()
    if done is not None:
        if done.sample_id != sample.pk:
            raise AuditError("this idempotency key was already used for another tile")
        return mark if mark is not None else Mark.objects.get(sample=sample, reader=reader)
    if mark is None:
        mark = Mark.objects.create(sample=sample, reader=reader)
        old = _State("", [], "")
    else:
        old = _State(mark.verdict, sorted(mark.tags.values_list("pk", flat=True)), mark.note)
    new = _State(
        old.verdict if verdict is None else verdict,
        old.tags if tags is None else tags,
        old.note if note is None else note,
    )
    if new == old:
        return mark
    if (new.verdict, new.note) != (old.verdict, old.note):
        mark.verdict, mark.note = new.verdict, new.note
        mark.save(update_fields=["verdict", "note", "updated_at"])
    if new.tags != old.tags:
        mark.tags.set(new.tags)
        if (new.verdict, new.note) == (old.verdict, old.note):
            mark.save(update_fields=["updated_at"])
    MarkChange.objects.create(
        sample=sample,
        reader=reader,
        idempotency_key=key,
        old_verdict=old.verdict,
        new_verdict=new.verdict,
        old_tags=old.tags,
        new_tags=new.tags,
        old_note=old.note,
        new_note=new.note,
    )
    return mark


def mark_all_unmarked_green(
    *, audit: Audit, label: Label, grid: int, reader, idempotency_key: str
) -> list[Mark]:
    """Shift+G: every tile of the grid the reader has not marked becomes green."""
    samples = grid_samples(audit=audit, label=label, grid=grid)
    marked = set(
        Mark.objects.filter(sample__in=samples, reader=reader)
        .exclude(verdict="")
        .values_list("sample_id", flat=True)
    )
    with transaction.atomic():
        return [
            mark_set(
                sample=sample,
                reader=reader,
                idempotency_key=f"{idempotency_key[:40]}:{sample.pk}",
                verdict=Verdict.GREEN,
            )
            for sample in samples
            if sample.pk not in marked
        ]


def grid_samples(*, audit: Audit, label: Label, grid: int) -> list[Sample]:
    start = grid * audit.grid_size
    return list(
        Sample.objects.filter(
            audit=audit, label=label, position__gte=start, position__lt=start + audit.grid_size
        ).select_related("image")
    )


def record_grid_time(*, audit: Audit, label: Label, grid: int, reader, seconds: float) -> None:
    """Add time spent on a grid (the page reports it when hidden or left)."""
    if not seconds > 0:
        return
    seconds = min(float(seconds), MAX_GRID_SECONDS)
    with transaction.atomic():
        visit, created = GridVisit.objects.get_or_create(
            audit=audit, label=label, grid=grid, reader=reader, defaults={"seconds": seconds}
        )
        if not created:
            GridVisit.objects.filter(pk=visit.pk).update(seconds=F("seconds") + seconds)


def image_ids_of(audit: Audit) -> list[int]:
    return list(Image.objects.filter(samples__audit=audit).values_list("pk", flat=True))
