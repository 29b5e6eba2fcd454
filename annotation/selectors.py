"""Reads for the reading room: a grid with the reader's own marks, and a reader's progress.

Only the requesting reader's marks are ever read here, so a blinded audit cannot leak another
reader's verdicts through a page, the API or a count.
"""

from dataclasses import dataclass, field
from math import ceil

from django.db.models import Count
from django.http import Http404

from datasets.models import Label

from .models import Audit, Mark, Membership, Sample, Tag, Verdict

CYCLE = {
    "": Verdict.GREEN,
    Verdict.GREEN: Verdict.ORANGE,
    Verdict.ORANGE: Verdict.RED,
    Verdict.RED: "",
}


@dataclass
class Tile:
    sample: Sample
    verdict: str = ""
    tag_ids: set[int] = field(default_factory=set)
    note: str = ""
    # Non-blinded audits only: the other readers' verdicts, counted.
    others: dict[str, int] = field(default_factory=dict)
    # Set by the view (reversed once per page, not once per tile).
    mark_url: str = ""
    thumbnail_url: str = ""
    viewer_url: str = ""

    @property
    def next_verdict(self) -> str:
        return CYCLE[self.verdict]


def tile_for(*, sample: Sample, reader, mark: Mark | None = None) -> Tile:
    """The reader's tile; `mark` as returned by mark_set (its `tag_ids` spare a query)."""
    if mark is None:
        mark = Mark.objects.filter(sample=sample, reader=reader).prefetch_related("tags").first()
    if mark is None:
        return Tile(sample=sample)
    tag_ids = getattr(mark, "tag_ids", None)
    return Tile(
        sample=sample,
        verdict=mark.verdict,
        tag_ids=set(tag_ids) if tag_ids is not None else {tag.pk for tag in mark.tags.all()},
        note=mark.note,
    )


@dataclass
class LabelGrids:
    label_id: int
    name: str
    samples: int
    grids: int
    grids_done: int = 0
    marked: int = 0
    done: set[int] = field(default_factory=set)  # 1-based numbers of the grids finished

    @property
    def grids_left(self) -> int:
        return self.grids - self.grids_done

    @property
    def grid_numbers(self) -> list[tuple[int, bool]]:
        """(1-based grid number, finished) for each grid of the label."""
        return [(number, number in self.done) for number in range(1, self.grids + 1)]


@dataclass
class GridPage:
    audit: Audit
    label: LabelGrids
    grid: int  # 0-based
    tiles: list[Tile]
    tags: list[Tag]
    labels: list[LabelGrids]

    @property
    def previous(self) -> tuple[int, int] | None:
        """(label id, grid) of the grid before this one, across labels."""
        if self.grid > 0:
            return self.label.label_id, self.grid - 1
        index = self._index()
        for before in reversed(self.labels[:index]):
            if before.grids:
                return before.label_id, before.grids - 1
        return None

    @property
    def next(self) -> tuple[int, int] | None:
        if self.grid + 1 < self.label.grids:
            return self.label.label_id, self.grid + 1
        for after in self.labels[self._index() + 1 :]:
            if after.grids:
                return after.label_id, 0
        return None

    def _index(self) -> int:
        return next(i for i, item in enumerate(self.labels) if item.label_id == self.label.label_id)


def label_grids(audit: Audit) -> list[LabelGrids]:
    """The audit's labels with their sample counts, in reading order (by name)."""
    rows = (
        Sample.objects.filter(audit=audit)
        .values_list("label_id", "label__name")
        .annotate(n=Count("id"))
        .order_by("label__name")
    )
    return [
        LabelGrids(label_id=label_id, name=name, samples=n, grids=ceil(n / audit.grid_size))
        for label_id, name, n in rows
    ]


def grid_page(*, audit: Audit, label_id: int, grid: int, reader) -> GridPage:
    """One grid (0-based) with the reader's own marks; 404 when it does not exist.

    Four queries whatever the grid size or the number of marks: the labels' counts, the
    grid's samples with their image keys, the reader's marks with their tags, the audit's
    tags (and one more, the other readers' counts, when the audit is not blinded).
    """
    labels = label_grids(audit)
    current = next((item for item in labels if item.label_id == label_id), None)
    if current is None or not 0 <= grid < current.grids:
        raise Http404("No such grid")
    start = grid * audit.grid_size
    samples = list(
        Sample.objects.filter(
            audit=audit,
            label_id=label_id,
            position__gte=start,
            position__lt=start + audit.grid_size,
        )
        .select_related("image")
        .only("id", "audit_id", "label_id", "position", "cell", "image_id", "image__key")
        .order_by("position")
    )
    tiles = {sample.pk: Tile(sample=sample) for sample in samples}
    rows = Mark.objects.filter(sample_id__in=tiles, reader_id=reader.pk).values_list(
        "sample_id", "verdict", "note", "tags"
    )
    for sample_id, verdict, note, tag_id in rows:
        tile = tiles[sample_id]
        tile.verdict, tile.note = verdict, note
        if tag_id is not None:
            tile.tag_ids.add(tag_id)
    if not audit.blinded:
        _add_others(list(tiles.values()), reader)
    return GridPage(
        audit=audit,
        label=current,
        grid=grid,
        tiles=list(tiles.values()),
        tags=list(audit.tags.all()),
        labels=labels,
    )


def _add_others(tiles: list[Tile], reader) -> None:
    by_sample = {tile.sample.pk: tile for tile in tiles}
    rows = (
        Mark.objects.filter(sample_id__in=by_sample)
        .exclude(reader_id=reader.pk)
        .exclude(verdict="")
        .values_list("sample_id", "verdict")
        .annotate(n=Count("id"))
    )
    for sample_id, verdict, n in rows:
        by_sample[sample_id].others[verdict] = n


@dataclass
class AuditProgress:
    audit: Audit
    labels: list[LabelGrids]
    is_reader: bool
    # (label id, 0-based grid) where the reader should go on.
    resume: tuple[int, int] | None = None

    @property
    def samples(self) -> int:
        return sum(item.samples for item in self.labels)

    @property
    def marked(self) -> int:
        return sum(item.marked for item in self.labels)

    @property
    def percent(self) -> int:
        return round(100 * self.marked / self.samples) if self.samples else 0

    @property
    def grids(self) -> int:
        return sum(item.grids for item in self.labels)

    @property
    def grids_done(self) -> int:
        return sum(item.grids_done for item in self.labels)


def audit_progress(*, audit: Audit, reader) -> AuditProgress:
    """Per label, the grids this reader has finished (every tile with a verdict) and left."""
    labels = label_grids(audit)
    marked = list(
        Mark.objects.filter(sample__audit=audit, reader_id=reader.pk)
        .exclude(verdict="")
        .values_list("sample__label_id", "sample__position")
    )
    per_grid: dict[tuple[int, int], int] = {}
    for label_id, position in marked:
        grid = (label_id, position // audit.grid_size)
        per_grid[grid] = per_grid.get(grid, 0) + 1
    incomplete: list[tuple[int, int]] = []
    for item in labels:
        for grid in range(item.grids):
            size = min(audit.grid_size, item.samples - grid * audit.grid_size)
            done = per_grid.get((item.label_id, grid), 0)
            item.marked += done
            if done >= size:
                item.grids_done += 1
                item.done.add(grid + 1)
            else:
                incomplete.append((item.label_id, grid))
    return AuditProgress(
        audit=audit,
        labels=labels,
        is_reader=Membership.objects.filter(
            audit=audit, user_id=reader.pk, role=Membership.Role.READER
        ).exists(),
        resume=_resume(audit, reader, incomplete),
    )


def _resume(audit: Audit, reader, incomplete: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The grid of the reader's latest mark if it is unfinished, else the first unfinished."""
    if not incomplete:
        return None
    latest = (
        Mark.objects.filter(sample__audit=audit, reader_id=reader.pk)
        .order_by("-updated_at")
        .values_list("sample__label_id", "sample__position")
        .first()
    )
    if latest is not None:
        grid = (latest[0], latest[1] // audit.grid_size)
        if grid in incomplete:
            return grid
    return incomplete[0]


def reading_audits(user) -> list[AuditProgress]:
    """The audits the user reads, ready or closed, with their progress (the reader's home)."""
    audits = Audit.objects.filter(
        memberships__user_id=user.pk,
        memberships__role=Membership.Role.READER,
        status__in=[Audit.Status.READY, Audit.Status.CLOSED],
    ).select_related("dataset")
    return [audit_progress(audit=audit, reader=user) for audit in audits.distinct()]


def label_of(audit: Audit, label_id: int) -> Label:
    label = audit.labels.filter(pk=label_id).first()
    if label is None:
        raise Http404("No such label")
    return label


def reading_home(user) -> dict:
    """The home page's reading section: the audits the user reads and the ones they manage."""
    from .access import is_admin, visible_audits

    reading = reading_audits(user)
    read_ids = {progress.audit.pk for progress in reading}
    managed = (
        visible_audits(user).filter(
            pk__in=Audit.objects.filter(dataset__maintainers=user).values("pk")
        )
        if not is_admin(user)
        else Audit.objects.all()
    )
    return {
        "reading": reading,
        "managed": [
            audit for audit in managed.select_related("dataset") if audit.pk not in read_ids
        ],
        "can_create": is_admin(user) or user.maintained_datasets.exists(),
    }
