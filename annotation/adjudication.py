"""Adjudication: the samples whose readers disagree form a queue that an adjudicator works
through; the adjudicated verdict then overrides the readers' majority in the consensus.

Which disagreements count is the audit's `adjudication_rule`: any disagreement between the
readers' non-empty verdicts, or only a red against a green (an orange beside either is doubt,
not a conflict). A sample already adjudicated stays in the queue (shown as done) even if the
readers later agree, so a decision is never hidden.

The adjudicator sees every reader's verdict, tags and note: adjudication is not blinded.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from math import ceil

from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404

from .consensus import Consensus, consensus_of
from .models import Adjudication, AdjudicationChange, Audit, Mark, Membership, Sample, Verdict
from .selectors import CYCLE

Rule = Audit.AdjudicationRule


class AdjudicationError(ValueError):
    """A request the adjudication cannot honour; the message names what was wrong."""


def disagrees(verdicts: Iterable[str], rule: str) -> bool:
    """Whether these readers' verdicts (blanks ignored) need an adjudicator under `rule`."""
    given = {verdict for verdict in verdicts if verdict}
    if rule == Rule.RED_GREEN:
        return {Verdict.RED.value, Verdict.GREEN.value} <= given
    if rule == Rule.ANY:
        return len(given) > 1
    raise AdjudicationError(f"unknown adjudication rule {rule!r} (known: {', '.join(Rule.values)})")


def set_rule(*, audit: Audit, rule: str) -> Audit:
    if rule not in Rule.values:
        raise AdjudicationError(
            f"unknown adjudication rule {rule!r} (known: {', '.join(Rule.values)})"
        )
    Audit.objects.filter(pk=audit.pk).update(adjudication_rule=rule)
    audit.adjudication_rule = rule
    return audit


@dataclass(frozen=True)
class _Queued:
    sample_id: int
    label_id: int
    label: str
    adjudicated: bool


def _queue(audit: Audit) -> list[_Queued]:
    """The samples in the audit's queue (disagreeing now, or already adjudicated), in reading
    order (label name, position). Three flat queries and no id list sent back to the database,
    so a queue of any size costs the same."""
    verdicts: dict[int, list[str]] = defaultdict(list)
    marks = Mark.objects.filter(sample__audit=audit).exclude(verdict="")
    for sample_id, verdict in marks.values_list("sample_id", "verdict").iterator(chunk_size=5000):
        verdicts[sample_id].append(verdict)
    adjudicated = set(
        Adjudication.objects.filter(sample__audit=audit).values_list("sample_id", flat=True)
    )
    rule = audit.adjudication_rule
    rows = (
        Sample.objects.filter(audit=audit)
        .order_by("label__name", "position")
        .values_list("pk", "label_id", "label__name")
    )
    return [
        _Queued(sample_id, label_id, name, sample_id in adjudicated)
        for sample_id, label_id, name in rows.iterator(chunk_size=5000)
        if sample_id in adjudicated or disagrees(verdicts.get(sample_id, ()), rule)
    ]


def queue_sample_ids(audit: Audit) -> list[int]:
    """Ids of the samples in the audit's queue, in reading order."""
    return [item.sample_id for item in _queue(audit)]


@dataclass
class QueueLabel:
    label_id: int
    name: str
    total: int = 0
    done: int = 0
    grids: int = 0
    first_pending_grid: int | None = None  # 1-based

    @property
    def pending(self) -> int:
        return self.total - self.done

    @property
    def grid_numbers(self) -> range:
        return range(1, self.grids + 1)


@dataclass
class QueueSummary:
    rule: str
    labels: list[QueueLabel]

    @property
    def total(self) -> int:
        return sum(item.total for item in self.labels)

    @property
    def done(self) -> int:
        return sum(item.done for item in self.labels)

    @property
    def pending(self) -> int:
        return self.total - self.done

    @property
    def first_pending(self) -> tuple[int, int] | None:
        """(label id, 1-based grid) of the first grid with a pending sample."""
        for item in self.labels:
            if item.pending:
                return item.label_id, item.first_pending_grid
        return None


def queue_summary(audit: Audit, queue: list[_Queued] | None = None) -> QueueSummary:
    labels: dict[int, QueueLabel] = {}
    for item in _queue(audit) if queue is None else queue:
        label = labels.setdefault(
            item.label_id, QueueLabel(label_id=item.label_id, name=item.label)
        )
        if item.adjudicated:
            label.done += 1
        elif label.first_pending_grid is None:
            label.first_pending_grid = label.total // audit.grid_size + 1
        label.total += 1
    for label in labels.values():
        label.grids = ceil(label.total / audit.grid_size)
    return QueueSummary(rule=audit.adjudication_rule, labels=list(labels.values()))


@dataclass
class Read:
    """One reader's mark as the adjudicator sees it."""

    reader: str
    verdict: str
    tags: list[str]
    note: str


@dataclass
class QueueTile:
    sample: Sample
    reads: list[Read]
    adjudication: Adjudication | None
    consensus: Consensus
    votes: list[tuple[str, int]] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return self.adjudication.verdict if self.adjudication else ""

    @property
    def note(self) -> str:
        return self.adjudication.note if self.adjudication else ""

    @property
    def next_verdict(self) -> str:
        """What a click on the image sets: the reading grid's cycle."""
        return CYCLE[self.verdict]


@dataclass
class QueuePage:
    audit: Audit
    label: QueueLabel
    grid: int  # 0-based
    tiles: list[QueueTile]
    labels: list[QueueLabel]

    @property
    def previous(self) -> tuple[int, int] | None:
        """(label id, 0-based grid) before this one, across labels."""
        if self.grid > 0:
            return self.label.label_id, self.grid - 1
        index = self._index()
        return (
            (self.labels[index - 1].label_id, self.labels[index - 1].grids - 1) if index else None
        )

    @property
    def next(self) -> tuple[int, int] | None:
        if self.grid + 1 < self.label.grids:
            return self.label.label_id, self.grid + 1
        index = self._index()
        return (self.labels[index + 1].label_id, 0) if index + 1 < len(self.labels) else None

    def _index(self) -> int:
        return next(i for i, item in enumerate(self.labels) if item.label_id == self.label.label_id)


def queue_page(*, audit: Audit, label_id: int, grid: int) -> QueuePage:
    """One grid (0-based) of the queue for a label, with every reader's read; 404 if none."""
    queue = _queue(audit)
    summary = queue_summary(audit, queue)
    current = next((item for item in summary.labels if item.label_id == label_id), None)
    if current is None or not 0 <= grid < current.grids:
        raise Http404("No such adjudication grid")
    of_label = [item.sample_id for item in queue if item.label_id == label_id]
    ids = of_label[grid * audit.grid_size : (grid + 1) * audit.grid_size]
    samples = {
        sample.pk: sample
        for sample in Sample.objects.filter(pk__in=ids)
        .select_related("image", "label", "adjudication__adjudicator")
        .prefetch_related(_READS)
    }
    return QueuePage(
        audit=audit,
        label=current,
        grid=grid,
        tiles=[tile_for(samples[sid]) for sid in ids],
        labels=summary.labels,
    )


# Every reader's mark on a tile with its tags, in one query per page rather than per tile.
_READS = Prefetch(
    "marks",
    queryset=Mark.objects.select_related("reader")
    .prefetch_related("tags")
    .order_by("reader__username"),
    to_attr="all_marks",
)


def tile_for(sample: Sample) -> QueueTile:
    """The tile as the adjudicator sees it (a sample fetched by queue_page needs no query)."""
    if not hasattr(sample, "all_marks"):
        sample = (
            Sample.objects.select_related("image", "label", "adjudication__adjudicator")
            .prefetch_related(_READS)
            .get(pk=sample.pk)
        )
    reads = [
        Read(
            reader=mark.reader.get_username(),
            verdict=mark.verdict,
            tags=[tag.name for tag in mark.tags.all()],
            note=mark.note,
        )
        for mark in sample.all_marks
    ]
    reads = [read for read in reads if read.verdict or read.tags or read.note]
    adjudication = getattr(sample, "adjudication", None)
    consensus = consensus_of(
        [read.verdict for read in reads], adjudication.verdict if adjudication else None
    )
    votes = [(v, consensus.votes[v]) for v in Verdict.values if consensus.votes.get(v)]
    return QueueTile(
        sample=sample, reads=reads, adjudication=adjudication, consensus=consensus, votes=votes
    )


def is_adjudicator(user, audit: Audit) -> bool:
    return Membership.objects.filter(
        audit=audit, user=user, role=Membership.Role.ADJUDICATOR
    ).exists()


def adjudicate(
    *, sample: Sample, adjudicator, verdict: str | None, note: str | None = None
) -> Adjudication | None:
    """Record (or, with verdict "", withdraw) the adjudicated verdict of a sample; None leaves
    that part unchanged (a note alone needs a verdict already recorded).

    One transaction; a history row for every real change; repeating the same decision changes
    nothing. Returns the Adjudication, or None once withdrawn.
    """
    if verdict is not None and verdict not in ("", *Verdict.values):
        raise AdjudicationError(f"unknown verdict {verdict!r} (green, orange, red or empty)")
    note = None if note is None else note.strip()
    with transaction.atomic():
        current = Adjudication.objects.select_for_update().filter(sample=sample).first()
        if verdict is None:
            if current is None:
                raise AdjudicationError("choose a verdict before writing a note")
            verdict = current.verdict
        old_verdict = current.verdict if current else ""
        old_note = current.note if current else ""
        new_note = (old_note if note is None else note) if verdict else ""
        if (verdict, new_note) == (old_verdict, old_note):
            return current
        if not verdict:
            if current is not None:
                current.delete()
            result = None
        elif current is None:
            result = Adjudication.objects.create(
                sample=sample, verdict=verdict, adjudicator=adjudicator, note=new_note
            )
        else:
            current.verdict, current.note, current.adjudicator = verdict, new_note, adjudicator
            current.save()
            result = current
        AdjudicationChange.objects.create(
            sample=sample,
            adjudicator=adjudicator,
            old_verdict=old_verdict,
            new_verdict=verdict,
            note=new_note,
        )
        _after_change(sample.audit_id)
    return result


def _after_change(audit_id: int) -> None:
    """The consensus changed: the reports recompute (debounced) once the change commits."""
    try:
        from reports.aggregation import request_aggregation
    except ImportError:  # the reports app is not there yet
        return
    transaction.on_commit(lambda: request_aggregation(audit_id))
