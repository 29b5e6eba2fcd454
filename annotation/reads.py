"""Reference reads from outside: an expert panel's published labels, or another group's reads,
imported as a named reader of an audit, so they enter every statistic like any reader.

Two file shapes:

- `verdicts`: columns image, label, verdict (green/orange/red, or correct/doubtful/wrong);
- `presence`: one row per image, one column per finding holding YES/NO (1/0, true/false): for
  every sample of the audit whose image is in the file and whose label has a column, YES means
  the dataset's label is right (green), NO that it is wrong (red); a blank cell is no read.

File labels are matched to the audit's labels by name or alias (case-insensitive), or through
`mapping` ("Their name" -> our label names; one of their columns may stand for several of our
labels). Images or labels the audit does not have are counted, not fatal; a malformed file is
refused whole with its line and reason, before anything is written.

The reader is a user without a usable password (nobody logs in as a panel); a person's account
is refused. Marks go through the one mark service, so history and idempotency hold: importing
the same file again changes nothing.
"""

import posixpath
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from datasets.importers.base import CsvRows, LabelFileError

from .models import Audit, Membership, Sample, Verdict
from .services import mark_set

FORMATS = ("verdicts", "presence")
VERDICT_WORDS = {
    "green": Verdict.GREEN, "correct": Verdict.GREEN,
    "orange": Verdict.ORANGE, "doubtful": Verdict.ORANGE,
    "red": Verdict.RED, "wrong": Verdict.RED,
}  # fmt: skip
PRESENCE_WORDS = {
    "yes": Verdict.GREEN, "y": Verdict.GREEN, "1": Verdict.GREEN, "1.0": Verdict.GREEN,
    "true": Verdict.GREEN,
    "no": Verdict.RED, "n": Verdict.RED, "0": Verdict.RED, "0.0": Verdict.RED,
    "false": Verdict.RED,
}  # fmt: skip
IMAGE_COLUMNS = ("Image Index", "image", "Image", "Path", "path", "dicom_id")


class ReadsError(ValueError):
    """Reads that cannot be imported (bad reader, audit or mapping); names what was wrong."""


@dataclass
class ReadsSummary:
    reader: str
    created_reader: bool = False
    rows: int = 0
    reads: int = 0  # (image, label) reads that matched a sample of the audit
    changed: int = 0  # marks that changed (the rest already had that verdict)
    samples: int = 0  # samples of the audit
    # Counted, not fatal:
    unknown_images: int = 0  # distinct images in the file that no sample of the audit shows
    not_sampled: int = 0  # reads of an audit image for a label it was not drawn for
    unknown_labels: Counter = field(default_factory=Counter)  # their label -> reads
    ignored_columns: list[str] = field(default_factory=list)  # presence: not yes/no columns


@dataclass(frozen=True)
class _Read:
    line: int
    image: str
    label: str  # the file's name
    verdict: str


def parse_mapping(pairs: list[str]) -> dict[str, list[str]]:
    """["Their name=Our label", ...] -> {their name: [our labels]}."""
    mapping: dict[str, list[str]] = {}
    for pair in pairs:
        theirs, sep, ours = pair.partition("=")
        if not sep or not theirs.strip() or not ours.strip():
            raise ReadsError(f'--map {pair!r}: write it as "Their name=Our label"')
        mapping.setdefault(theirs.strip(), []).append(ours.strip())
    return mapping


def import_reads(
    *,
    audit: Audit,
    reader_name: str,
    path: Path,
    fmt: str,
    image_column: str | None = None,
    mapping: dict[str, list[str]] | None = None,
    progress: Callable[[int], None] | None = None,
    write_progress: Callable[[int], None] | None = None,
) -> ReadsSummary:
    """Import a file of reads into `audit` as reader `reader_name`, all or nothing.

    `progress` gets the bytes of the file read, `write_progress` the marks written so far.
    """
    if fmt not in FORMATS:
        raise ReadsError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if audit.status not in (Audit.Status.READY, Audit.Status.CLOSED):
        raise ReadsError(f"audit {audit.pk} has no sample set yet (status {audit.status})")
    name = reader_name.strip()
    if not name or len(name) > 150:
        raise ReadsError("the reader needs a name of 1 to 150 characters")
    resolve = _label_resolver(audit, mapping or {})
    parse = _parse_verdicts if fmt == "verdicts" else _parse_presence
    summary = ReadsSummary(reader=name)
    reads = parse(Path(path), image_column, resolve, summary, progress)

    samples: dict[tuple[str, int], int] = {}
    audit_images: set[str] = set()
    rows = Sample.objects.filter(audit=audit).values_list("pk", "image__key", "label_id")
    for sample_id, key, label_id in rows.iterator(chunk_size=5000):
        samples[(key, label_id)] = sample_id
        audit_images.add(key)
    summary.samples = len(samples)

    chosen: dict[int, str] = {}
    unknown_images: set[str] = set()
    for read in reads:
        targets = resolve(read.label)
        if not targets:
            summary.unknown_labels[read.label] += 1
            continue
        if read.image not in audit_images:
            unknown_images.add(read.image)
            continue
        for label_id in targets:
            sample_id = samples.get((read.image, label_id))
            if sample_id is None:
                summary.not_sampled += 1
            elif chosen.setdefault(sample_id, read.verdict) != read.verdict:
                raise LabelFileError(
                    path,
                    read.line,
                    f"image {read.image!r} gets two different verdicts for one label",
                )
    summary.unknown_images = len(unknown_images)
    summary.reads = len(chosen)

    run = uuid.uuid4().hex[:16]  # an unchanged mark writes nothing, so a re-import is a no-op
    with transaction.atomic():
        reader, summary.created_reader = _reference_reader(name)
        Membership.objects.get_or_create(audit=audit, user=reader, role=Membership.Role.READER)
        by_id = Sample.objects.in_bulk(list(chosen))
        for done, (sample_id, verdict) in enumerate(sorted(chosen.items()), start=1):
            before = by_id[sample_id].marks.filter(reader=reader).values_list("verdict", flat=True)
            old = next(iter(before), "")
            mark_set(
                sample=by_id[sample_id],
                reader=reader,
                idempotency_key=f"reads-{run}-{sample_id}",
                verdict=verdict,
            )
            summary.changed += old != verdict
            if write_progress and done % 500 == 0:
                write_progress(done)
        _after_import(audit.pk)
    if write_progress:
        write_progress(len(chosen))
    return summary


def _reference_reader(name: str):
    User = get_user_model()
    user = User.objects.filter(username=name).first()
    if user is None:
        user = User(username=name)
        user.set_unusable_password()
        user.save()
        return user, True
    if user.has_usable_password():
        raise ReadsError(
            f"{name!r} is a person's account (it has a password): imported reads go to a "
            "reader nobody logs in as; choose another name"
        )
    return user, False


def _label_resolver(audit: Audit, mapping: dict[str, list[str]]) -> Callable[[str], list[int]]:
    """Their label name -> ids of the audit's labels it stands for ([] when none)."""
    ours: dict[str, int] = {}
    for label in audit.labels.all():
        for spelling in (label.name, *label.aliases):
            ours.setdefault(spelling.casefold(), label.pk)
    mapped: dict[str, list[int]] = {}
    for theirs, names in mapping.items():
        unknown = [n for n in names if n.casefold() not in ours]
        if unknown:
            known = ", ".join(sorted(audit.labels.values_list("name", flat=True)))
            raise ReadsError(
                f"--map {theirs!r}: {', '.join(unknown)} is not a label of audit {audit.pk} "
                f"(its labels: {known})"
            )
        mapped[theirs.casefold()] = sorted({ours[n.casefold()] for n in names})
    cache: dict[str, list[int]] = {}

    def resolve(name: str) -> list[int]:
        if name not in cache:
            folded = name.strip().casefold()
            direct = [ours[folded]] if folded in ours else []
            cache[name] = mapped.get(folded, direct)
        return cache[name]

    return resolve


def _image_index(header: list[str], path: Path, image_column: str | None, default: tuple) -> int:
    if image_column:
        if image_column not in header:
            raise LabelFileError(
                path, 1, f"no image column {image_column!r} (the header has: {', '.join(header)})"
            )
        return header.index(image_column)
    for name in default:
        if name in header:
            return header.index(name)
    raise LabelFileError(
        path,
        1,
        f"no image column (looked for {', '.join(default)}; name it with --image-column); "
        f"the header has: {', '.join(header)}",
    )


def _image_key(raw: str) -> str:
    # Paths (CheXpert) are keyed the way the importer normalises them.
    value = raw.strip()
    return posixpath.normpath(value.replace("\\", "/")) if "/" in value or "\\" in value else value


def _check_width(row: list[str], header: list[str], path: Path, line: int) -> None:
    if len(row) != len(header):
        raise LabelFileError(
            path, line, f"expected {len(header)} fields as in the header, found {len(row)}"
        )


def _parse_verdicts(path, image_column, resolve, summary, progress) -> list[_Read]:
    rows = CsvRows(path, progress)
    reads: list[_Read] = []
    columns = None
    first_seen: dict[tuple[str, str], tuple[int, str]] = {}
    for line, row in rows:
        if columns is None:
            header = rows.header
            missing = [name for name in ("label", "verdict") if name not in header]
            if missing:
                raise LabelFileError(
                    path, 1, f"missing column(s) {', '.join(missing)} (the header has: "
                    f"{', '.join(header)}); a verdicts file has image, label, verdict",
                )  # fmt: skip
            columns = (
                _image_index(header, path, image_column, ("image", *IMAGE_COLUMNS)),
                header.index("label"),
                header.index("verdict"),
            )
        _check_width(row, rows.header, path, line)
        summary.rows += 1
        image, label, word = (row[i].strip() for i in columns)
        if not image:
            raise LabelFileError(path, line, "empty image")
        if not label:
            raise LabelFileError(path, line, "empty label")
        verdict = VERDICT_WORDS.get(word.casefold())
        if verdict is None:
            raise LabelFileError(
                path, line, f"verdict {word!r} is not one of {', '.join(VERDICT_WORDS)}"
            )
        key = _image_key(image)
        seen = first_seen.setdefault((key, label.casefold()), (line, verdict))
        if seen[1] != verdict:
            raise LabelFileError(
                path, line, f"{key} / {label}: {verdict} here but {seen[1]} on line {seen[0]}"
            )
        reads.append(_Read(line, key, label, str(verdict)))
    if columns is None:
        raise LabelFileError(path, None, "the file has a header but no rows")
    return reads


def _parse_presence(path, image_column, resolve, summary, progress) -> list[_Read]:
    """Read every row first: a column counts as a finding when it is one of the audit's labels
    (or mapped), or, when unknown, when every cell of it reads as yes/no; other columns (the
    dataset's own, a set id) are ignored and listed."""
    rows = CsvRows(path, progress)
    table: list[tuple[int, list[str]]] = []
    image_at = None
    first_line: dict[str, int] = {}
    for line, row in rows:
        if image_at is None:
            image_at = _image_index(rows.header, path, image_column, IMAGE_COLUMNS)
        _check_width(row, rows.header, path, line)
        key = _image_key(row[image_at])
        if not key:
            raise LabelFileError(path, line, "empty image")
        seen = first_line.setdefault(key, line)
        if seen != line:
            raise LabelFileError(path, line, f"image {key!r} appears twice (first on line {seen})")
        table.append((line, row))
    if image_at is None:
        raise LabelFileError(path, None, "the file has a header but no rows")
    summary.rows = len(table)
    header = rows.header
    findings: list[int] = []
    for index, name in enumerate(header):
        if index == image_at:
            continue
        values = {row[index].strip().casefold() for _, row in table} - {""}
        if resolve(name):
            findings.append(index)
        elif values and values <= PRESENCE_WORDS.keys():
            findings.append(index)  # a finding the audit does not have: counted below
        else:
            summary.ignored_columns.append(name)
    reads: list[_Read] = []
    for line, row in table:
        key = _image_key(row[image_at])
        for index in findings:
            word = row[index].strip()
            if not word:
                continue
            verdict = PRESENCE_WORDS.get(word.casefold())
            if verdict is None:
                raise LabelFileError(
                    path,
                    line,
                    f"column {header[index]!r}: {word!r} is not YES/NO, 1/0 or true/false",
                )
            reads.append(_Read(line, key, header[index], str(verdict)))
    return reads


def _after_import(audit_id: int) -> None:
    try:
        from reports.aggregation import request_aggregation
    except ImportError:  # the reports app is not there yet
        return
    transaction.on_commit(lambda: request_aggregation(audit_id))
