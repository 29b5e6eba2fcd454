"""CheXpert (`train.csv` / `valid.csv`) and MIMIC-CXR-JPG label files.

Each finding column holds 1.0 (positive), 0.0 (negative), -1.0 (uncertain: the report hedged)
or blank (not mentioned); the four stay distinct, blank being no row at all. MIMIC-CXR-JPG keys
its labels by `subject_id,study_id`; a file joined with the metadata's `dicom_id` gives one row
per image and the path of the official layout.
"""

import re
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
    reject_unknown_columns,
    require_rows,
    safe_relative_path,
)

NO_FINDING = "No Finding"
FINDINGS = (
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices",
)  # fmt: skip
VALUES = {"1.0": POSITIVE, "1": POSITIVE, "0.0": NEGATIVE, "0": NEGATIVE,
          "-1.0": UNCERTAIN, "-1": UNCERTAIN}  # fmt: skip
_PATIENT_STUDY = re.compile(r"(patient\d+)/(study\d+)/")


def parse(path: Path, progress: Progress | None = None) -> ParsedFile:
    rows = CsvRows(path, progress)
    images: list[ParsedImage] = []
    reader = None
    for line, row in rows:
        if reader is None:
            reader = _reader_for(rows.header, path)
        check_field_count(row, rows.header, path, line)
        images.append(reader(row, line))
    require_rows(images, path)
    reject_duplicate_keys(images, path)
    kinds = {NO_FINDING: "no_finding"} | {name: "finding" for name in FINDINGS}
    return ParsedFile(images=images, label_kinds=kinds)


def _reader_for(header: list[str], path: Path):
    if "subject_id" in header and "dicom_id" not in header:
        raise LabelFileError(
            path,
            1,
            "MIMIC-CXR labels are per study: join them with the metadata file's dicom_id "
            "to get one row per image",
        )
    label_columns = [(name, column_index(header, path, name)) for name in (NO_FINDING, *FINDINGS)]
    if "Path" in header:
        return _chexpert_reader(header, path, label_columns)
    if "subject_id" in header:
        return _mimic_reader(header, path, label_columns)
    raise LabelFileError(
        path,
        1,
        f"neither a CheXpert 'Path' column nor MIMIC-CXR 'subject_id' (header: {', '.join(header)})",
    )


def _labels(row: list[str], label_columns, path: Path, line: int) -> dict[str, int]:
    labels = {}
    for name, index in label_columns:
        raw = row[index].strip()
        if not raw:
            continue  # not mentioned
        value = VALUES.get(raw)
        if value is None:
            raise LabelFileError(
                path,
                line,
                f"column {name!r}: unknown CheXpert value {raw!r} (use 1.0, 0.0, -1.0 or blank)",
            )
        labels[name] = value
    return labels


def _chexpert_reader(header: list[str], path: Path, label_columns):
    known = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", NO_FINDING, *FINDINGS)
    reject_unknown_columns(header, known, path, "CheXpert")
    col_path = column_index(header, path, "Path")
    optional = {
        name: column_index(header, path, name, required=False)
        for name in ("Sex", "Age", "Frontal/Lateral", "AP/PA")
    }

    def read(row: list[str], line: int) -> ParsedImage:
        get = lambda name: cell(row, optional, name)  # noqa: E731
        relative = safe_relative_path(row[col_path], path, line)
        match = _PATIENT_STUDY.search(relative)
        frontal = get("Frontal/Lateral")
        return ParsedImage(
            key=relative,
            path=relative,
            line=line,
            labels=_labels(row, label_columns, path, line),
            patient_id=match.group(1) if match else "",
            study=match.group(2) if match else "",
            view_position=get("AP/PA") or frontal,
            sex=get("Sex"),
            age=parse_optional_int(get("Age"), path, line, "Age"),
            metadata={"frontal_lateral": frontal} if frontal else {},
        )

    return read


def _mimic_reader(header: list[str], path: Path, label_columns):
    col_subject = column_index(header, path, "subject_id")
    col_study = column_index(header, path, "study_id")
    col_dicom = column_index(header, path, "dicom_id")
    col_view = column_index(header, path, "ViewPosition", required=False)

    def read(row: list[str], line: int) -> ParsedImage:
        subject, study, dicom = (row[i].strip() for i in (col_subject, col_study, col_dicom))
        if not (subject.isdigit() and study.isdigit() and dicom):
            raise LabelFileError(
                path, line, "subject_id and study_id must be numbers, dicom_id set"
            )
        relative = safe_relative_path(
            f"files/p{subject[:2]}/p{subject}/s{study}/{dicom}.jpg", path, line
        )
        return ParsedImage(
            key=dicom,
            path=relative,
            line=line,
            labels=_labels(row, label_columns, path, line),
            patient_id=subject,
            study=study,
            view_position=row[col_view].strip() if col_view is not None else "",
        )

    return read
