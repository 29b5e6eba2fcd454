"""NIH ChestX-ray14 `Data_Entry_2017*.csv`.

The header's last two names hold a comma inside brackets (`OriginalImage[Width,Height]`), so a
CSV reader splits it into 11 fields that line up with the 11 values of each row. The original
2017 file also ends every line with a comma: trailing empty columns are ignored.
"""

from operator import itemgetter
from pathlib import Path

from .base import (
    POSITIVE,
    CsvRows,
    LabelFileError,
    ParsedFile,
    ParsedImage,
    Progress,
    check_field_count,
    column_index,
    parse_optional_float,
    parse_optional_int,
    reject_duplicate_keys,
    reject_unknown_columns,
    require_rows,
    safe_relative_path,
)

NO_FINDING = "No Finding"
FINDINGS = (
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis",
    "Hernia", "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax",
)  # fmt: skip
# Spellings used by other NIH files (the bounding-box list says "Infiltrate").
ALIASES = {"Infiltration": ["Infiltrate"], "Pleural_Thickening": ["Pleural Thickening"]}
_CANONICAL = {name: name for name in (*FINDINGS, NO_FINDING)} | {
    alias: name for name, aliases in ALIASES.items() for alias in aliases
}


def parse(path: Path, progress: Progress | None = None) -> ParsedFile:
    rows = CsvRows(path, progress)
    images: list[ParsedImage] = []
    read = None
    width = 0
    for line, row in rows:
        if read is None:
            header = _trim_trailing_empty(rows.header)
            width = len(header)
            read = _row_reader(header, path)
        if len(row) != width:
            row = _trim_to(row, width)
            check_field_count(row, rows.header[:width], path, line)
        images.append(read(row, line))
    require_rows(images, path)
    reject_duplicate_keys(images, path)
    kinds = {name: "finding" for name in FINDINGS} | {NO_FINDING: "no_finding"}
    return ParsedFile(images=images, label_kinds=kinds, label_aliases=ALIASES)


# The columns in the order _row_reader reads them; the first three are required.
_COLUMNS = (
    "Image Index", "Finding Labels", "Patient ID", "Follow-up #", "Patient Age", "Patient Gender",
    "View Position", "OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x", "y]",
)  # fmt: skip


def _row_reader(header: list[str], path: Path):
    """A function reading one row into a ParsedImage.

    Written for the 112,120-row file: one itemgetter picks every cell (a missing optional
    column reads the '' appended to each row), and the ~800 distinct "Finding Labels" strings
    are parsed once each: images with the same findings share one (read-only) labels dict.
    """
    indices = [
        column_index(header, path, name, required=position < 3)
        for position, name in enumerate(_COLUMNS)
    ]
    reject_unknown_columns(header, _COLUMNS, path, "ChestX-ray14")
    pick = itemgetter(*(-1 if index is None else index for index in indices))
    parsed_labels: dict[str, dict[str, int]] = {}

    def read(row: list[str], line: int) -> ParsedImage:
        row.append("")
        key, found, patient, follow_up, age, sex, view, width, height, sx, sy = map(
            str.strip, pick(row)
        )
        if not key:
            raise LabelFileError(path, line, "empty Image Index")
        labels = parsed_labels.get(found)
        if labels is None:
            labels = parsed_labels[found] = _labels(found, path, line)
        return ParsedImage(
            key=key,
            path=safe_relative_path(key, path, line),
            line=line,
            labels=labels,
            patient_id=patient,
            study=follow_up,
            view_position=view,
            sex=sex,
            age=int(age) if age.isdecimal() else _age(age, path, line),
            width=int(width) if width.isdecimal() else _int(width, path, line, _COLUMNS[7]),
            height=int(height) if height.isdecimal() else _int(height, path, line, _COLUMNS[8]),
            pixel_spacing_x=parse_optional_float(sx, path, line, "PixelSpacing x"),
            pixel_spacing_y=parse_optional_float(sy, path, line, "PixelSpacing y"),
        )

    return read


def _int(raw: str, path: Path, line: int, column: str) -> int | None:
    return parse_optional_int(raw, path, line, column)


def _labels(raw: str, path: Path, line: int) -> dict[str, int]:
    if not raw:
        raise LabelFileError(path, line, "empty Finding Labels (use 'No Finding')")
    labels = {}
    for name in raw.split("|"):
        canonical = _CANONICAL.get(name.strip())
        if canonical is None:
            raise LabelFileError(
                path, line, f"unknown finding {name!r} (known: {', '.join(_CANONICAL)})"
            )
        labels[canonical] = POSITIVE
    if NO_FINDING in labels and len(labels) > 1:
        raise LabelFileError(path, line, f"'No Finding' together with findings: {raw!r}")
    return labels


def _age(raw: str, path: Path, line: int) -> int | None:
    # The 2017 file wrote ages as "058Y"; the 2020 revision as plain numbers.
    if raw[-1:] in ("Y", "y") and raw[:-1].isdecimal():
        raw = raw[:-1]
    return parse_optional_int(raw, path, line, "Patient Age")


def _trim_trailing_empty(header: list[str]) -> list[str]:
    end = len(header)
    while end and not header[end - 1]:
        end -= 1
    return header[:end]


def _trim_to(row: list[str], width: int) -> list[str]:
    if len(row) > width and not any(value.strip() for value in row[width:]):
        return row[:width]
    return row
