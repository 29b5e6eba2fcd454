"""Audit services: creating an audit, building its sample set, and the one way to write a mark.

Called alike by the views, the REST API, the management commands, the Celery tasks and tests.
"""

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import partial

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from datasets.models import Dataset, Image, ImageLabel, Label

from . import audit_log, decoys, sampling, shuffled
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
    check_tags(tags)
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
        audit_log.record(
            "audit.created",
            actor=created_by,
            actor_label="manage.py",
            audit=audit,
            target=audit.name,
            readers=[user.get_username() for user in readers],
        )
        if build:  # through the outbox: an audit created while Redis is down is built later
            from .outbox import enqueue_after_commit

            enqueue_after_commit(
                "annotation.tasks.build_sample_set", {"audit_id": audit.pk}, key=f"build:{audit.pk}"
            )
    return audit


def check_tags(tags: Sequence[tuple[str, str]]) -> None:
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
            _insert_samples(_sample_rows(audit, labels, drawn))
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


PROGRESS_EVERY = 0.5  # seconds between two progress writes while drawing


def _draw(
    audit: Audit, labels: list[Label], progress: Callable[[int], None] | None
) -> dict[int, list[sampling.Candidate]]:
    """label id -> the drawn candidates in reading order (annotation.sampling's rule); their
    `labels` are not filled in (the rule has used them already).

    Rows stay plain (key, image id, patient) tuples from the cursor, sorted as tuples (keys are
    unique in a dataset, so this is the order by key): no object per candidate, as the full
    NIH file has ~140,000 of them and only ~2,000 are drawn.
    """
    if audit.kind == Audit.Kind.MODEL_REVIEW:  # modelaudit: cells of a model's calls
        from reports.model_audit import draw_model_review

        return draw_model_review(audit, labels, progress)
    rules = audit_rules(audit)
    label_names = _positive_label_names(audit.dataset_id) if rules.sole_label_only else {}
    none: frozenset[str] = frozenset()
    members = {
        label.pk: list(label.members.all()) if label.kind == Label.Kind.MERGED else [label]
        for label in labels
    }
    wanted = {member.pk for group in members.values() for member in group}
    carriers = (
        shuffled.permuted_carriers(audit.dataset_id, wanted, audit.seed, rules.view)
        if audit.kind == Audit.Kind.SHUFFLED
        else _carriers(wanted, rules.view)
    )
    drawn: dict[int, list[sampling.Candidate]] = {}
    reported = time.monotonic()
    for done, label in enumerate(labels, start=1):
        group = members[label.pk]
        if len(group) == 1:
            rows = carriers(group[0].pk)
        else:  # an image may carry several members of a merged label: once each
            rows = list({row[1]: row for member in group for row in carriers(member.pk)}.values())
        if rules.sole_label_only:
            own = frozenset(member.name for member in group)
            rows = [row for row in rows if label_names.get(row[1], none) <= own]
        rows.sort()
        chosen = sampling.pick(rows, label=label.name, rules=rules, patient=_patient)
        drawn[label.pk] = [
            sampling.Candidate(image_id, key, patient, rules.view, none)
            for key, image_id, patient in chosen
        ]
        if progress:
            progress(1)
        if time.monotonic() - reported > PROGRESS_EVERY and done < len(labels):
            Audit.objects.filter(pk=audit.pk).update(build_done=done)
            reported = time.monotonic()
    return decoys.add_decoys(audit, labels, drawn)


def _patient(row: "Row") -> str:
    return row[2] or f"image:{row[0]}"


Row = tuple[str, int, str]  # (image key, image id, patient)


def _carriers(label_ids: set[int], view: str) -> Callable[[int], list[Row]]:
    """label id -> rows of the images carrying it (positive), as a function.

    Read with a plain cursor: model or values() rows would cost more than the draw itself.
    PostgreSQL: one query for all labels (one hash join over the images, then grouped here);
    SQLite: a query per label (its index lookups are cheap in process, and the rows come
    grouped).
    """
    rows = ImageLabel.objects.filter(value=ImageLabel.Value.POSITIVE)
    if view:
        rows = rows.filter(image__view_position=view)
    rows = rows.values_list("image__key", "image_id", "image__patient_id").order_by()
    if connection.vendor != "postgresql":
        return lambda label_id: _fetch(rows.filter(label_id=label_id))
    grouped: dict[int, list[Row]] = {label_id: [] for label_id in label_ids}
    with transaction.atomic():
        # The hash of ~112,000 image rows spills to disk at the default 4 MB work_mem.
        _query("SET LOCAL work_mem = '64MB'", [])
        fetched = _fetch(
            rows.filter(label_id__in=label_ids).values_list(
                "image__key", "image_id", "image__patient_id", "label_id"
            )
        )
    for key, image_id, patient, label_id in fetched:
        grouped[label_id].append((key, image_id, patient))
    return grouped.__getitem__


def _fetch(queryset) -> list[tuple]:
    sql, params = queryset.query.sql_with_params()
    return _query(sql, params)


def _sample_rows(
    audit: Audit, labels: list[Label], drawn: dict[int, list[sampling.Candidate]]
) -> tuple[list[str], list[tuple]]:
    """The Sample columns written and one row of values per drawn image (with, for model
    reviews and decoys, the tile's cell and decoy flag: annotation.decoys.Planned)."""
    columns = ["audit_id", "label_id", "image_id", "position", "cell", "is_decoy"]
    rows = [
        (audit.pk, label.pk, chosen.image_id, position, getattr(chosen, "cell", ""),
         getattr(chosen, "is_decoy", False))
        for label in labels
        for position, chosen in enumerate(drawn[label.pk])
    ]  # fmt: skip
    return columns, rows


def _insert_samples(columns_rows: tuple[list[str], list[tuple]]) -> None:
    """INSERT the sample rows in a few multi-row statements.

    bulk_create would do the same, but compiling ~2,000 model instances costs more than the
    whole draw; these are plain values.
    """
    columns, rows = columns_rows
    quote = connection.ops.quote_name
    head = (
        f"INSERT INTO {quote(Sample._meta.db_table)} "
        f"({', '.join(quote(name) for name in columns)}) VALUES "
    )
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    batch_size = MAX_PARAMETERS // len(columns)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            cursor.execute(
                head + ", ".join([placeholders] * len(batch)),
                [value for row in batch for value in row],
            )


MAX_PARAMETERS = 900  # per INSERT, under SQLite's oldest limit of 999


def _positive_label_names(dataset_id: int) -> dict[int, frozenset[str]]:
    """image id -> names of all its positive labels (for the sole-label rule).

    Pairs of integers by label id (the ImageLabel index), no join: the names come from the
    dataset's few labels.
    """
    names = dict(Label.objects.filter(dataset_id=dataset_id).values_list("pk", "name"))
    per_image: dict[int, set[str]] = {}
    rows = ImageLabel.objects.filter(label_id__in=names, value=ImageLabel.Value.POSITIVE)
    for image_id, label_id in _fetch(rows.values_list("image_id", "label_id").order_by()):
        per_image.setdefault(image_id, set()).add(names[label_id])
    return {image_id: frozenset(labels) for image_id, labels in per_image.items()}


# -- marks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    verdict: str
    tags: list[int]
    note: str


marks_changed_signal = Signal()  # sent with audit_id; reports listens (annotation can't import it)


def marks_changed(audit_id: int) -> None:
    """Called once after each committed transaction that changed marks of the audit.

    Tells the listeners (reports: re-aggregate the audit). Whatever they do must not need Redis
    to be up: marking never waits on it.
    """
    marks_changed_signal.send(sender=Audit, audit_id=audit_id)


def mark_set(
    *,
    sample: Sample,
    reader,
    idempotency_key: str,
    verdict: str | None = None,
    tags: list[int] | None = None,
    note: str | None = None,
    audit_tags: Collection[int] | None = None,
    notify: bool = True,
) -> Mark:
    """Set the reader's mark on a sample: None leaves that part unchanged, verdict "" clears.

    One transaction; exactly one current Mark per (sample, reader) however many concurrent or
    repeated requests arrive; a MarkChange row for every applied request (old = new when it
    changed nothing, so that its key is spent); a repeated idempotency_key changes nothing
    and returns the current mark. The returned mark carries `tag_ids`, its tags as read or
    written in that transaction. `audit_tags`: the audit's tag
    ids when the caller has them already (saves a query). After a commit that changed the mark,
    marks_changed(audit id) runs (unless notify is False: the caller then calls it once).

    Queries for a change of an existing mark: SELECT ... FOR UPDATE (with its tags and the
    key's earlier use), UPDATE, INSERT into the history; tags add one DELETE and/or INSERT.
    """
    key = (idempotency_key or "").strip()
    if not key or len(key) > 64:
        raise AuditError("a mark needs an idempotency key of 1 to 64 characters")
    if verdict is not None and verdict not in ("", *Verdict.values):
        raise AuditError(f"unknown verdict {verdict!r} (green, orange, red or empty)")
    if tags is not None:
        tags = sorted(set(tags))
        if audit_tags is None:
            audit_tags = Tag.objects.filter(audit_id=sample.audit_id).values_list("pk", flat=True)
        known = set(audit_tags)
        strangers = [tag for tag in tags if tag not in known]
        if strangers:
            raise AuditError(f"tag(s) {strangers} are not tags of this audit")
    if note is not None:
        note = note.strip()
    # Two first marks racing both insert: the loser hits the unique constraint and retries,
    # finding the winner's row; the same holds for two requests with one idempotency key.
    # A mark locked by another request (PostgreSQL): retried carefully, waiting for the lock.
    careful = False
    for attempt in range(5):
        try:
            with transaction.atomic():
                mark, changed = _mark_set_once(sample, reader, key, verdict, tags, note, careful)
                if changed and notify:
                    transaction.on_commit(partial(marks_changed, sample.audit_id))
                return mark
        except OperationalError as error:
            if careful or getattr(error.__cause__, "pgcode", None) != LOCK_NOT_AVAILABLE:
                raise
            careful = True
        except IntegrityError:
            used = (
                MarkChange.objects.filter(reader=reader, idempotency_key=key)
                .values_list("sample_id", flat=True)
                .first()
            )
            if used is not None and used != sample.pk:
                raise AuditError("this idempotency key was already used for another tile") from None
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def _current(sample: Sample, reader, key: str, careful: bool) -> tuple[Mark | None, int | None]:
    """The reader's mark on the sample, locked, with `tag_ids`; and the sample on which this
    key was already applied (None: a new key). Written out: it runs for every mark, and
    building it with the ORM cost more than running it.

    One query when nobody else holds the mark (NOWAIT: else LOCK_NOT_AVAILABLE). Careful, after
    waiting for the lock: the tags are read by a second statement, since PostgreSQL re-reads a
    locked row after the wait but not the rows joined to it (the tags would be stale).
    """
    lock = ""
    if connection.features.has_select_for_update_of:
        lock = " FOR UPDATE OF m" if careful else " FOR UPDATE OF m NOWAIT"
    rows = _query(_CURRENT_SQL + lock, [reader.pk, key, sample.pk, reader.pk])
    if not rows:
        return None, None
    pk, verdict, note, _, used_on = rows[0]
    mark = Mark(pk=pk, sample=sample, reader=reader, verdict=verdict, note=note)
    if careful:
        through = Mark.tags.through.objects.filter(mark_id=pk)
        mark.tag_ids = sorted(through.values_list("tag_id", flat=True))
    else:
        mark.tag_ids = sorted(row[3] for row in rows if row[3] is not None)
    return mark, used_on


LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's error code for NOWAIT on a held lock


def _query(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


_CURRENT_SQL = (
    "SELECT m.id, m.verdict, m.note, t.tag_id,"
    f" (SELECT c.sample_id FROM {MarkChange._meta.db_table} c WHERE c.reader_id = %s AND c.idempotency_key = %s)"
    f" FROM {Mark._meta.db_table} m LEFT JOIN {Mark.tags.through._meta.db_table} t ON t.mark_id = m.id"
    " WHERE m.sample_id = %s AND m.reader_id = %s"
)


def _mark_set_once(sample, reader, key, verdict, tags, note, careful) -> tuple[Mark, bool]:
    mark, used_on = _current(sample, reader, key, careful)
    if used_on is not None:
        if used_on != sample.pk:
            raise AuditError("this idempotency key was already used for another tile")
        return mark, False
    # No mark yet: the key cannot have been applied to this tile (marks are never deleted);
    # used on another tile, the history INSERT below fails and mark_set says so.
    old = _State("", [], "") if mark is None else _State(mark.verdict, mark.tag_ids, mark.note)
    new = _State(
        old.verdict if verdict is None else verdict,
        old.tags if tags is None else tags,
        old.note if note is None else note,
    )
    if mark is None:
        mark = Mark.objects.create(sample=sample, reader=reader, verdict=new.verdict, note=new.note)
    elif new == old:
        _record(sample, reader, key, old, new)
        return mark, False
    else:
        Mark.objects.filter(pk=mark.pk).update(
            verdict=new.verdict, note=new.note, updated_at=timezone.now()
        )
        mark.verdict, mark.note = new.verdict, new.note
    if new.tags != old.tags:
        through = Mark.tags.through
        removed = set(old.tags) - set(new.tags)
        if removed:
            through.objects.filter(mark_id=mark.pk, tag_id__in=removed).delete()
        through.objects.bulk_create(
            through(mark_id=mark.pk, tag_id=tag) for tag in new.tags if tag not in old.tags
        )
    mark.tag_ids = new.tags
    _record(sample, reader, key, old, new)
    return mark, new != old


def _record(sample, reader, key, old: _State, new: _State) -> None:
    """The history row of a request; one that changed nothing is recorded too (old = new), so
    that its key is spent: replayed after a later change, it must not undo that change."""
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
        marks = [
            mark_set(
                sample=sample,
                reader=reader,
                idempotency_key=f"{idempotency_key[:40]}:{sample.pk}",
                verdict=Verdict.GREEN,
                notify=False,
            )
            for sample in samples
            if sample.pk not in marked
        ]
        if marks:
            transaction.on_commit(partial(marks_changed, audit.pk))
    return marks


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
