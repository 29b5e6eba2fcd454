"""The relabeled export: the dataset's own label file, rewritten by the audits' verdicts.

The original file is streamed row by row (never held in memory): each row keeps its original
cells, except that a finding whose verdict under the chosen rule is red is removed
(ChestX-ray14: dropped from `Finding Labels`, `No Finding` when none is left; CheXpert and
MIMIC-CXR-JPG: its column set to 0.0). Provenance columns are appended to every row. Orange is
never a change: only red removes a label, and the rule decides whose red counts:

- `consensus`: the consensus verdict (adjudicated if any, else the readers' majority; a tie is
  orange) is red;
- `unanimous`: every reader who gave a verdict said red (and no adjudication said otherwise);
- `adjudicated`: an adjudicator said red.

A merged label (ChestX-ray14 "Opacity") judged red removes each of its members the row carries.
A red on "No Finding" cannot name the finding that is there, so it changes nothing (the
provenance columns still show the verdict).

For a whole dataset, every audit of it counts; where several audits reviewed one image for one
label, the latest audit with a verdict on it decides.
"""

import csv
import gzip
import io
import os
import posixpath
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from annotation.consensus import Consensus, consensus_verdicts
from annotation.models import Audit, Sample
from reports.csv_cells import safe_row

from .importers import chestxray14
from .models import Dataset, Label

RULES = ("consensus", "unanimous", "adjudicated")
PROVENANCE = (
    "relabel_audit",
    "relabel_status",
    "relabel_reviewed",
    "relabel_readers",
    "relabel_green",
    "relabel_orange",
    "relabel_red",
    "relabel_consensus",
    "relabel_adjudicated",
    "relabel_removed",
)
UNREVIEWED, UNCHANGED, CHANGED = "unreviewed", "unchanged", "changed"
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_ROWS = 2000


# A cell starts at the row's start or after a separator: one C-speed search over the joined
# row finds any cell that csv_cells might neutralise; only those rows pay the per-cell check
# (on the NIH file, calling safe_row on every row tripled the export's time).
_MAYBE_FORMULA = re.compile(r"(?:^|\x00)[=+\-@\t\r]")


def safe_text_row(row: list[str]) -> list:
    return safe_row(row) if _MAYBE_FORMULA.search("\x00".join(row)) else row


class ExportError(ValueError):
    """An export that cannot be made; the message names what is missing."""


def removes(rule: str, consensus: Consensus) -> bool:
    """Whether this verdict, under `rule`, removes the label (only a red ever does)."""
    if rule == "consensus":
        return consensus.verdict == "red"
    if rule == "adjudicated":
        return consensus.source == "adjudicated" and consensus.verdict == "red"
    if rule == "unanimous":
        all_red = bool(consensus.votes) and set(consensus.votes) == {"red"}
        overridden = consensus.source == "adjudicated" and consensus.verdict != "red"
        return all_red and not overridden
    raise ExportError(f"unknown rule {rule!r} (known: {', '.join(RULES)})")


@dataclass(frozen=True)
class Review:
    """The verdict on one (image, label) pair of one audit."""

    audit_id: int
    label: str
    members: tuple[str, ...]  # the findings it stands for: itself, or a merged label's members
    consensus: Consensus
    remove: bool

    @property
    def readers(self) -> int:
        return sum(self.consensus.votes.values())


def reviews(dataset: Dataset, rule: str, audit: Audit | None = None) -> dict[str, list[Review]]:
    """image key -> its reviews, for one audit or (audit None) every audit of the dataset."""
    if rule not in RULES:
        raise ExportError(f"unknown rule {rule!r} (known: {', '.join(RULES)})")
    audits = [audit] if audit is not None else list(dataset.audits.order_by("created_at", "pk"))
    members = _members(dataset)
    latest: dict[tuple[str, str], Review] = {}
    for one in audits:  # oldest first: a later audit's verdict replaces an earlier one
        verdicts = consensus_verdicts(one)
        # Only tiles that review a label the image carries (modelaudit): never a decoy, nor a
        # model review's FP/TN tile, nor a shuffled-labels control.
        if one.kind == Audit.Kind.SHUFFLED:
            continue
        rows = (
            Sample.objects.filter(audit=one, is_decoy=False)
            .exclude(cell__in=[Sample.Cell.FP, Sample.Cell.TN])
            .values_list("pk", "image__key", "label__name")
        )
        for sample_id, key, label in rows.iterator(chunk_size=5000):
            consensus = verdicts[sample_id]
            if consensus.source == "unmarked":
                continue
            latest[(key, label)] = Review(
                audit_id=one.pk,
                label=label,
                members=members.get(label, (label,)),
                consensus=consensus,
                remove=removes(rule, consensus),
            )
    result: dict[str, list[Review]] = {}
    for (key, _), review in sorted(latest.items()):
        result.setdefault(key, []).append(review)
    return result


@dataclass
class PreviewRow:
    label: str
    reviewed: int = 0
    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))


def preview(dataset: Dataset, audit: Audit | None = None) -> list[PreviewRow]:
    """Per reviewed label: the images reviewed and how many each rule would strip of it."""
    rows: dict[str, PreviewRow] = {}
    for reviewed in reviews(dataset, "consensus", audit).values():
        for review in reviewed:
            row = rows.setdefault(review.label, PreviewRow(review.label))
            row.reviewed += 1
            for rule in RULES:
                row.removed[rule] += bool(review.members) and removes(rule, review.consensus)
    return [rows[name] for name in sorted(rows)]


def _members(dataset: Dataset) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for label in dataset.labels.prefetch_related("members"):
        if label.kind == Label.Kind.MERGED:
            found[label.name] = tuple(sorted(member.name for member in label.members.all()))
        elif label.kind == Label.Kind.NO_FINDING:
            found[label.name] = ()  # nothing to remove: the finding that is there is unnamed
    return found


@dataclass
class ExportSummary:
    rows: int = 0
    reviewed: int = 0
    changed: int = 0
    removed: Counter = field(default_factory=Counter)  # finding -> rows it was removed from
    # Reviewed images the label file does not hold (a different file was imported since).
    missing: int = 0


Progress = Callable[[int], None]


def export_problem(dataset: Dataset) -> str:
    """Why the dataset cannot be exported, or "" when it can."""
    if dataset.format not in (Dataset.Format.CHESTXRAY14, Dataset.Format.CHEXPERT):
        return (
            f"relabeled export writes ChestX-ray14 and CheXpert files; {dataset.name} is "
            f"{dataset.get_format_display()} (its column options are not kept)"
        )
    if not dataset.label_file or not Path(dataset.label_file).is_file():
        return (
            f"the label file of {dataset.name} ({dataset.label_file or 'none recorded'}) is "
            "not readable: the export rewrites the original file, so import it again"
        )
    return ""


class _RawLines:
    """Feeds a text's physical lines to csv.reader and keeps those of the current record (a
    quoted field may span several), so a row left unchanged is written back as it was read."""

    __slots__ = ("lines", "taken")

    def __init__(self, text: Iterator[str]):
        self.lines = iter(text)
        self.taken: list[str] = []

    def __iter__(self) -> "_RawLines":
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.taken.append(line)
        return line

    def record(self) -> str:
        text = "".join(self.taken)
        self.taken.clear()
        return text


class RelabeledRows:
    """Iterates the relabeled file's rows (header first) from the dataset's label file.

    After iteration, `summary` holds the counts. `progress` gets the source bytes read.
    """

    def __init__(
        self,
        dataset: Dataset,
        rule: str,
        audit: Audit | None = None,
        progress: Progress | None = None,
    ):
        problem = export_problem(dataset)
        if problem:
            raise ExportError(problem)
        self.source = Path(dataset.label_file)
        self.dataset = dataset
        self.reviews = reviews(dataset, rule, audit)
        self.progress = progress
        self.summary = ExportSummary()
        self.line_end = _line_end(self.source)

    def __iter__(self) -> Iterator[list[str] | str]:
        """Rows to write as CSV (lists), or, for a row kept as it was, its original text with
        the provenance cells appended: most rows are never re-serialised, which keeps them
        byte for byte and halves the time."""
        with open(self.source, "rb") as raw:
            binary: io.BufferedIOBase = raw
            if raw.peek(2)[:2] == _GZIP_MAGIC:
                binary = gzip.GzipFile(fileobj=raw)
            text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
            lines = _RawLines(text)
            reader = csv.reader(lines)
            header = next(reader, None)
            if header is None:
                raise ExportError(f"{self.source} is empty")
            lines.record()
            yield [*header, *PROVENANCE]
            relabel = self._relabeler([name.strip() for name in header])
            found = count = 0
            empty = ("",) * (len(PROVENANCE) - 2)
            kept = "," + ",".join(["", UNREVIEWED, *empty]) + self.line_end
            for row in reader:
                original = lines.record()
                if not row:
                    continue
                count += 1
                reviewed = self.reviews.get(relabel.key(row))
                if reviewed is not None:
                    found += 1
                    removed = relabel.apply(row, reviewed)  # rewrites row in place
                    yield [*row, *self._provenance(removed, reviewed)]
                elif _MAYBE_FORMULA.search("\x00".join(row)):
                    yield [*row, "", UNREVIEWED, *empty]  # its cells need neutralising
                else:
                    yield original.rstrip("\r\n") + kept
                if self.progress and count % 5000 == 0:
                    self.progress(raw.tell())
            self.summary.rows = count
            self.summary.missing = len(self.reviews) - found
            if self.progress:
                self.progress(raw.tell())

    def _relabeler(self, header: list[str]) -> "_Relabeler":
        if self.dataset.format == Dataset.Format.CHESTXRAY14:
            return _ChestXray14(header, self.source)
        return _CheXpert(header, self.source)

    def _provenance(self, removed: list[str], reviewed: list[Review]) -> list[str]:
        self.summary.reviewed += 1
        if removed:
            self.summary.changed += 1
            self.summary.removed.update(removed)
        each = lambda value: "|".join(f"{r.label}={value(r)}" for r in reviewed)  # noqa: E731
        return [
            "|".join(sorted({str(r.audit_id) for r in reviewed})),
            CHANGED if removed else UNCHANGED,
            "|".join(r.label for r in reviewed),
            each(lambda r: r.readers),
            each(lambda r: r.consensus.votes.get("green", 0)),
            each(lambda r: r.consensus.votes.get("orange", 0)),
            each(lambda r: r.consensus.votes.get("red", 0)),
            each(lambda r: r.consensus.verdict),
            each(lambda r: "yes" if r.consensus.source == "adjudicated" else "no"),
            "|".join(removed),
        ]


class _Relabeler:
    def key(self, row: list[str]) -> str:
        raise NotImplementedError

    def apply(self, row: list[str], reviewed: list[Review]) -> list[str]:
        """Rewrite `row` in place; returns the findings removed."""
        raise NotImplementedError


class _ChestXray14(_Relabeler):
    def __init__(self, header: list[str], source: Path):
        self.key_at = _column(header, "Image Index", source)
        self.labels_at = _column(header, "Finding Labels", source)

    def key(self, row: list[str]) -> str:
        return row[self.key_at].strip()

    def apply(self, row: list[str], reviewed: list[Review]) -> list[str]:
        gone = {name for r in reviewed if r.remove for name in r.members}
        if not gone:
            return []
        findings = row[self.labels_at].split("|")
        canonical = [chestxray14._CANONICAL.get(name.strip(), name.strip()) for name in findings]
        kept = [raw for raw, name in zip(findings, canonical, strict=True) if name not in gone]
        removed = [name for name in canonical if name in gone]
        if removed:
            row[self.labels_at] = "|".join(kept) if kept else chestxray14.NO_FINDING
        return removed


class _CheXpert(_Relabeler):
    POSITIVE = ("1.0", "1")

    def __init__(self, header: list[str], source: Path):
        self.header = header
        if "Path" in header:
            self.path_at = _column(header, "Path", source)
            self.dicom_at = None
        else:
            self.dicom_at = _column(header, "dicom_id", source)

    def key(self, row: list[str]) -> str:
        if self.dicom_at is not None:
            return row[self.dicom_at].strip()
        return posixpath.normpath(row[self.path_at].strip().replace("\\", "/"))

    def apply(self, row: list[str], reviewed: list[Review]) -> list[str]:
        removed = []
        for name in sorted({name for r in reviewed if r.remove for name in r.members}):
            if name in self.header:
                at = self.header.index(name)
                if row[at].strip() in self.POSITIVE:
                    row[at] = "0.0"
                    removed.append(name)
        return removed


def _column(header: list[str], name: str, source: Path) -> int:
    try:
        return header.index(name)
    except ValueError:
        raise ExportError(f"{source}: no column {name!r} (the header has {header})") from None


def _line_end(source: Path) -> str:
    """The original file's line end, kept so that unchanged rows stay byte for byte."""
    with open(source, "rb") as raw:
        head = raw.read(2)
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if head == _GZIP_MAGIC else raw
        first = stream.readline(1 << 20)
    return "\r\n" if first.endswith(b"\r\n") else "\n"


def csv_chunks(rows: RelabeledRows) -> Iterator[str]:
    """The rows as CSV text in chunks (every cell made safe for spreadsheets)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=rows.line_end)
    for count, row in enumerate(rows, start=1):
        if isinstance(row, str):
            buffer.write(row)  # an original line, already checked
        else:
            writer.writerow(safe_text_row(row))
        if count % _CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_relabeled(
    *,
    dataset: Dataset,
    rule: str,
    out: Path,
    audit: Audit | None = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Write the relabeled file to `out` atomically: a temporary file beside it, renamed over
    it once complete, so a reader never sees half a file and a failure leaves none."""
    rows = RelabeledRows(dataset, rule, audit, progress)
    out = Path(out)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed or removed below
        "w", encoding="utf-8", newline="", dir=out.parent, prefix=f".{out.name}.", delete=False
    )
    try:
        with handle:
            for chunk in csv_chunks(rows):
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644)  # a temporary file is private; the export is not
        os.replace(handle.name, out)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return rows.summary
