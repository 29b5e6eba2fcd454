"""What every label-file importer shares: reading the file safely and the parsed-row shape.

An importer turns a label file into `ParsedImage` rows and raises `LabelFileError` (file, line,
reason) on the first bad row; nothing is written until the whole file has parsed.
"""

import csv
import gzip
import io
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
POSITIVE, NEGATIVE, UNCERTAIN = 1, 0, -1


class LabelFileError(Exception):
    """A label file refused whole: names the file, the line (1-based, when known) and the reason."""

    def __init__(self, path: Path | str, line: int | None, reason: str):
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}, line {line}" if line else self.path
        super().__init__(f"{where}: {reason}")


@dataclass(slots=True)
class ParsedImage:
    key: str
    path: str
    line: int
    labels: dict[str, int]
    patient_id: str = ""
    study: str = ""
    view_position: str = ""
    sex: str = ""
    age: int | None = None
    width: int | None = None
    height: int | None = None
    pixel_spacing_x: float | None = None
    pixel_spacing_y: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class ParsedFile:
    images: list[ParsedImage]
    # Label name -> kind ("finding", "no_finding"); the order is the file's.
    label_kinds: dict[str, str]
    # Other spellings the format knows for a label (ChestX-ray14's bounding boxes say "Infiltrate").
    label_aliases: dict[str, list[str]] = field(default_factory=dict)


Progress = Callable[[int], None]


class CsvRows:
    """Reads a (possibly gzipped) UTF-8 CSV: a BOM, CRLF line ends and quoted newlines are valid.

    Iterating yields (line, row) where `line` is the 1-based physical line the record starts
    on; `header` holds the first record. `progress` is called with bytes consumed so far.
    """

    def __init__(self, path: Path, progress: Progress | None = None):
        self.path = path
        self.progress = progress
        self.header: list[str] = []

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        try:
            raw = open(self.path, "rb")  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            raise LabelFileError(self.path, None, f"cannot open: {exc.strerror}") from None
        try:
            yield from self._records(raw)
        finally:
            raw.close()

    def _records(self, raw: io.BufferedReader) -> Iterator[tuple[int, list[str]]]:
        start = raw.peek(2)[:2]
        binary: io.BufferedIOBase = raw
        if start == GZIP_MAGIC:
            binary = gzip.GzipFile(fileobj=raw)
        try:
            sample = binary.peek(8192)[:8192] if hasattr(binary, "peek") else b""
        except (OSError, EOFError) as exc:
            raise LabelFileError(self.path, None, f"corrupt gzip file ({exc})") from None
        if b"\x00" in sample:
            raise LabelFileError(self.path, None, "binary file, not a CSV text file")
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, strict=True)
        line = 1
        done = 0
        try:
            for row in reader:
                record_line, line = line, reader.line_num + 1
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank lines carry nothing
                if not self.header:
                    self.header = [name.strip() for name in row]
                    continue
                if self.progress and record_line - done >= 5000:
                    self.progress(raw.tell())
                    done = record_line
                yield record_line, row
        except UnicodeDecodeError:
            raise LabelFileError(
                self.path, line, "not UTF-8 text (binary or wrongly encoded)"
            ) from None
        except csv.Error as exc:
            raise LabelFileError(self.path, line, f"malformed CSV: {exc}") from None
        except (OSError, EOFError) as exc:
            raise LabelFileError(self.path, line, f"corrupt or truncated file ({exc})") from None
        if not self.header:
            raise LabelFileError(self.path, None, "empty file: no header line")
        if self.progress:
            self.progress(raw.tell())


def column_index(header: list[str], path: Path, name: str, *, required: bool = True) -> int | None:
    """Index of a column by exact name, or a clear error listing what the header has."""
    try:
        return header.index(name)
    except ValueError:
        if not required:
            return None
        raise LabelFileError(
            path, 1, f"missing column {name!r} (the header has: {', '.join(header)})"
        ) from None


def reject_unknown_columns(header: list[str], known, path: Path, format_name: str) -> None:
    """A closed format's header names only its own columns: anything else means a wrong file
    (or a misspelt column) and is refused, naming it and what the format has."""
    unknown = [name for name in header if name not in known]
    if unknown:
        raise LabelFileError(
            path,
            1,
            f"unknown column(s) {', '.join(map(repr, unknown))} for a {format_name} file "
            f"(its columns: {', '.join(known)})",
        )


def cell(row: list[str], columns: dict[str, int | None], name: str) -> str:
    """The stripped value of an optional column, or '' when the file has no such column."""
    index = columns.get(name)
    return row[index].strip() if index is not None else ""


def check_field_count(row: list[str], header: list[str], path: Path, line: int) -> None:
    if len(row) != len(header):
        raise LabelFileError(
            path, line, f"expected {len(header)} fields as in the header, found {len(row)}"
        )


def safe_relative_path(raw: str, path: Path, line: int) -> str:
    """The image path as a clean relative POSIX path; absolute or climbing paths are refused."""
    value = raw.strip().replace("\\", "/")
    plain_name = "/" not in value and value not in ("", ".", "..") and value[1:2] != ":"
    if plain_name and "\x00" not in value:
        return value  # a plain file name (every NIH row): nothing to normalise
    if not value:
        raise LabelFileError(path, line, "empty image path")
    if "\x00" in value:
        raise LabelFileError(path, line, f"image path {raw!r} contains a NUL byte")
    if value.startswith("/") or (len(value) > 1 and value[1] == ":"):
        raise LabelFileError(path, line, f"image path {raw!r} is absolute; paths must be relative")
    normal = posixpath.normpath(value)
    if normal == ".." or normal.startswith("../") or ".." in value.split("/"):
        raise LabelFileError(path, line, f"image path {raw!r} climbs out of the dataset root")
    return normal


def parse_optional_int(raw: str, path: Path, line: int, column: str) -> int | None:
    value = raw.strip()
    if not value:
        return None
    try:
        return int(float(value)) if "." in value else int(value)
    except ValueError:
        raise LabelFileError(path, line, f"{column}: {raw!r} is not a number") from None


def parse_optional_float(raw: str, path: Path, line: int, column: str) -> float | None:
    value = raw.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise LabelFileError(path, line, f"{column}: {raw!r} is not a number") from None


def reject_duplicate_keys(images: list[ParsedImage], path: Path) -> None:
    first_line: dict[str, int] = {}
    for image in images:
        seen = first_line.setdefault(image.key, image.line)
        if seen != image.line:
            raise LabelFileError(
                path, image.line, f"image {image.key!r} appears twice (first on line {seen})"
            )


def require_rows(images: list[ParsedImage], path: Path) -> None:
    if not images:
        raise LabelFileError(path, None, "the file has a header but no image rows")
