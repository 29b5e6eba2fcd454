"""A generic CSV: an image-path column and either one column of separated labels
(`--labels-column Findings --separator "|"`) or one column per label (`--label-columns A,B`).

Per-label cells: 1/yes/true/positive, 0/no/false/negative, -1/uncertain, or blank (not
mentioned). A label named "No Finding" (any case) is of kind "no finding".
"""

from dataclasses import dataclass
from pathlib import Path

from .base import (
    NEGATIVE,
    POSITIVE,
    UNCERTAIN,
    CsvRows,
    LabelFileError,
    ParsedFile,
    ParsedImage,
    Progress,
    cell,
    check_field_count,
    column_index,
    parse_optional_int,
    reject_duplicate_keys,
    require_rows,
    safe_relative_path,
)

CELL_VALUES = {
    **dict.fromkeys(("1", "1.0", "yes", "y", "true", "t", "positive", "pos"), POSITIVE),
    **dict.fromkeys(("0", "0.0", "no", "n", "false", "f", "negative", "neg"), NEGATIVE),
    **dict.fromkeys(("-1", "-1.0", "uncertain", "u"), UNCERTAIN),
}


@dataclass(frozen=True)
class GenericOptions:
    path_column: str = "path"
    labels_column: str | None = None
    separator: str = "|"
    label_columns: tuple[str, ...] = ()
    patient_column: str | None = None
    view_column: str | None = None
    sex_column: str | None = None
    age_column: str | None = None


def parse(path: Path, options: GenericOptions, progress: Progress | None = None) -> ParsedFile:
    if bool(options.labels_column) == bool(options.label_columns):
        raise LabelFileError(
            path, None, "give either a labels column or label columns, not both or neither"
        )
    rows = CsvRows(path, progress)
    images: list[ParsedImage] = []
    names: dict[str, None] = {}  # insertion-ordered set of the label names met
    col: dict[str, int | None] = {}
    for line, row in rows:
        if not col:
            col = _columns(rows.header, options, path)
        check_field_count(row, rows.header, path, line)
        labels = _labels(row, col, options, path, line)
        names.update(dict.fromkeys(labels))
        relative = safe_relative_path(row[col["path"]], path, line)
        images.append(
            ParsedImage(
                key=relative,
                path=relative,
                line=line,
                labels=labels,
                patient_id=cell(row, col, "patient"),
                view_position=cell(row, col, "view"),
                sex=cell(row, col, "sex"),
                age=parse_optional_int(
                    cell(row, col, "age"), path, line, options.age_column or "age"
                ),
            )
        )
    require_rows(images, path)
    reject_duplicate_keys(images, path)
    if options.label_columns:
        names = dict.fromkeys(options.label_columns)
    kinds = {name: "no_finding" if name.lower() == "no finding" else "finding" for name in names}
    return ParsedFile(images=images, label_kinds=kinds)


def _columns(header: list[str], options: GenericOptions, path: Path) -> dict[str, int | None]:
    col = {"path": column_index(header, path, options.path_column)}
    for key, name in (("patient", options.patient_column), ("view", options.view_column),
                      ("sex", options.sex_column), ("age", options.age_column),
                      ("labels", options.labels_column)):  # fmt: skip
        if name:
            col[key] = column_index(header, path, name)
    for name in options.label_columns:
        col[f"label:{name}"] = column_index(header, path, name)
    return col


def _labels(row, col, options: GenericOptions, path: Path, line: int) -> dict[str, int]:
    if options.labels_column:
        cell = row[col["labels"]]
        return {name.strip(): POSITIVE for name in cell.split(options.separator) if name.strip()}
    labels = {}
    for name in options.label_columns:
        raw = row[col[f"label:{name}"]].strip()
        if not raw:
            continue
        value = CELL_VALUES.get(raw.lower())
        if value is None:
            raise LabelFileError(
                path,
                line,
                f"column {name!r}: unknown value {raw!r} (use 1/0/-1, yes/no, true/false or blank)",
            )
        labels[name] = value
    return labels
