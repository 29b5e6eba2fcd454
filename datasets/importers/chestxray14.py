"""NIH ChestX-ray14 `Data_Entry_2017*.csv`.

The header's last two names hold a comma inside brackets (`OriginalImage[Width,Height]`), so a
CSV reader splits it into 11 fields that line up with the 11 values of each row. The original
2017 file also ends every line with a comma: trailing empty columns are ignored.
"""

from pathlib import Path

from .base import (
    POSITIVE,
    CsvRows,
    LabelFileError,
    ParsedFile,
    ParsedImage,
    Progress,
    cell,
    check_field_count,
    column_index,
    parse_optional_float,
    parse_optional_int,
    reject_duplicate_keys,
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
    columns: dict[str, int | None] | None = None
    width = 0
    for line, row in rows:
        if columns is None:
            header = _trim_trailing_empty(rows.header)
            width = len(header)
            columns = _columns(header, path)
        row = _trim_to(row, width)
        check_field_count(row, rows.header[:width], path, line)
        images.append(_image(row, columns, path, line))
    require_rows(images, path)
    reject_duplicate_keys(images, path)
    kinds = {name: "finding" for name in FINDINGS} | {NO_FINDING: "no_finding"}
    return ParsedFile(images=images, label_kinds=kinds, label_aliases=ALIASES)


def _columns(header: list[str], path: Path) -> dict[str, int | None]:
    optional = lambda name: column_index(header, path, name, required=False)  # noqa: E731
    return {
        "key": column_index(header, path, "Image Index"),
        "labels": column_index(header, path, "Finding Labels"),
        "patient": column_index(header, path, "Patient ID"),
        "follow_up": optional("Follow-up #"),
        "age": optional("Patient Age"),
        "sex": optional("Patient Gender"),
        "view": optional("View Position"),
        "width": optional("OriginalImage[Width"),
        "height": optional("Height]"),
        "spacing_x": optional("OriginalImagePixelSpacing[x"),
        "spacing_y": optional("y]"),
    }


def _image(row: list[str], col: dict[str, int | None], path: Path, line: int) -> ParsedImage:
    get = lambda name: cell(row, col, name)  # noqa: E731
    key = get("key")
    if not key:
        raise LabelFileError(path, line, "empty Image Index")
    return ParsedImage(
        key=key,
        path=safe_relative_path(key, path, line),
        line=line,
        labels=_labels(get("labels"), path, line),
        patient_id=get("patient"),
        study=get("follow_up"),
        view_position=get("view"),
        sex=get("sex"),
        age=_age(get("age"), path, line),
        width=parse_optional_int(get("width"), path, line, "OriginalImage[Width"),
        height=parse_optional_int(get("height"), path, line, "Height]"),
        pixel_spacing_x=parse_optional_float(get("spacing_x"), path, line, "PixelSpacing x"),
        pixel_spacing_y=parse_optional_float(get("spacing_y"), path, line, "PixelSpacing y"),
    )


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
    if raw[-1:] in ("Y", "y") and raw[:-1].isdigit():
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
