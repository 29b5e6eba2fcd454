"""A bad label file is refused whole, naming the file, the line and the reason."""

import gzip

import pytest
from django.core.management import CommandError, call_command

from datasets.importers import GenericOptions, LabelFileError
from datasets.models import Dataset, Image, ImageLabel
from datasets.paths import PathRefused
from datasets.services import import_dataset
from tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db

NIH_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
)
NIH_ROW = "00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.143,0.143\n"
CHEXPERT_HEADER = (
    "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,"
    "Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,"
    "Pleural Effusion,Pleural Other,Fracture,Support Devices\n"
)


def write(tmp_path, text: str | bytes, name="labels.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def refused(path, fmt="chestxray14", **kwargs) -> LabelFileError:
    with pytest.raises(LabelFileError) as caught:
        import_dataset(name="bad", fmt=fmt, labels=path, **kwargs)
    assert (
        not Dataset.objects.exists()
        and not Image.objects.exists()
        and not ImageLabel.objects.exists()
    )
    return caught.value


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        (
            NIH_ROW + "00000002_000.png,Mass,0,2,40,F,PA,1,1\n",
            3,
            "expected 11 fields as in the header, found 9",
        ),
        (NIH_ROW * 2, 3, "appears twice (first on line 2)"),
        ("00000003_000.png,Masss,0,3,40,F,PA,1,1,0.1,0.1\n", 2, "unknown finding 'Masss'"),
        ("00000003_000.png,,0,3,40,F,PA,1,1,0.1,0.1\n", 2, "empty Finding Labels"),
        ("../../etc/passwd,Mass,0,3,40,F,PA,1,1,0.1,0.1\n", 2, "climbs out of the dataset root"),
        ("/etc/passwd,Mass,0,3,40,F,PA,1,1,0.1,0.1\n", 2, "is absolute"),
        (
            "00000003_000.png,Mass,0,3,forty,F,PA,1,1,0.1,0.1\n",
            2,
            "Patient Age: 'forty' is not a number",
        ),
        ('00000003_000.png,"Mass,0,3,40,F,PA,1,1,0.1,0.1\n', 2, "malformed CSV"),
    ],
)
def test_a_bad_nih_row_is_refused_with_its_line(tmp_path, body, line, reason):
    error = refused(write(tmp_path, NIH_HEADER + body))
    assert error.line == line
    assert reason in error.reason
    assert str(tmp_path / "labels.csv") in str(error)


def test_a_missing_column_is_named(tmp_path):
    error = refused(write(tmp_path, "Image Index,Labels,Patient ID\nx.png,Mass,1\n"))
    assert "missing column 'Finding Labels'" in error.reason
    assert error.line == 1


@pytest.mark.parametrize(
    ("fmt", "header", "row"),
    [
        ("chestxray14", NIH_HEADER.rstrip("\n") + ",Notes\n", NIH_ROW.rstrip("\n") + ",x\n"),
        (
            "chexpert",
            CHEXPERT_HEADER.rstrip("\n") + ",Notes\n",
            "train/patient1/study1/view1_frontal.jpg,Male,40,Frontal,PA" + ",1.0" * 14 + ",x\n",
        ),
    ],
)
def test_an_unknown_column_of_a_closed_format_is_named(tmp_path, fmt, header, row):
    # A misspelt column is reported as the missing one; an extra one as unknown.
    error = refused(write(tmp_path, header + row), fmt=fmt)
    assert error.line == 1
    assert "unknown column(s) 'Notes'" in error.reason


def test_an_unknown_chexpert_value_is_refused(tmp_path):
    row = (
        "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,Female,68,Frontal,AP,1.0"
        + ",2.0"
        + "," * 12
        + "\n"
    )
    error = refused(write(tmp_path, CHEXPERT_HEADER + row), fmt="chexpert")
    assert error.line == 2
    assert "column 'Enlarged Cardiomediastinum': unknown CheXpert value '2.0'" in error.reason


def test_an_empty_file_is_refused(tmp_path):
    assert "empty file" in refused(write(tmp_path, "")).reason


def test_a_header_without_rows_is_refused(tmp_path):
    assert "no image rows" in refused(write(tmp_path, NIH_HEADER)).reason


def test_a_binary_file_is_refused(tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    assert "binary file" in refused(write(tmp_path, png, "labels.png")).reason


def test_a_non_utf8_file_is_refused(tmp_path):
    error = refused(
        write(tmp_path, (NIH_HEADER + NIH_ROW).encode() + "caf\xe9\n".encode("latin-1"))
    )
    assert "not UTF-8" in error.reason


def test_a_truncated_gzip_is_refused(tmp_path):
    data = gzip.compress((FIXTURES / "nih_first300.csv").read_bytes())
    assert "corrupt" in refused(write(tmp_path, data[: len(data) // 2], "labels.csv.gz")).reason


def test_a_bad_last_row_leaves_nothing_written(tmp_path):
    good = (FIXTURES / "nih_first300.csv").read_text()
    error = refused(write(tmp_path, good + "x.png,Nope,0,1,1,M,PA,1,1,1,1\n"))
    assert error.line == 302


def test_a_bad_reimport_keeps_the_first_import_intact(tmp_path):
    import_dataset(name="NIH", fmt="chestxray14", labels=FIXTURES / "nih_first300.csv")
    bad = write(
        tmp_path, (FIXTURES / "nih_first300.csv").read_text() + "x.png,Nope,0,1,1,M,PA,1,1,1,1\n"
    )
    with pytest.raises(LabelFileError):
        import_dataset(name="NIH", fmt="chestxray14", labels=bad)
    assert Image.objects.count() == 300


def test_an_image_folder_outside_the_dataset_roots_is_refused(tmp_path, dataset_root):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(PathRefused, match="outside DATASET_ROOTS"):
        import_dataset(
            name="NIH", fmt="chestxray14", labels=FIXTURES / "nih_first300.csv", images=outside
        )
    assert not Dataset.objects.exists()


def test_a_symlink_into_the_roots_from_outside_is_judged_by_its_target(tmp_path, dataset_root):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (dataset_root / "link").symlink_to(outside)
    with pytest.raises(PathRefused):
        import_dataset(name="NIH", fmt="chestxray14", labels=FIXTURES / "nih_first300.csv",
                       images=dataset_root / "link")  # fmt: skip


def test_quoted_newlines_are_valid_input(tmp_path):
    labels = write(tmp_path, 'path,findings,comment\na.png,Mass,"two\nlines"\nb.png,Nodule,x\n')
    import_dataset(name="g", fmt="generic", labels=labels,
                   generic_options=GenericOptions(path_column="path", labels_column="findings"))  # fmt: skip
    assert sorted(Image.objects.values_list("key", flat=True)) == ["a.png", "b.png"]


def test_a_bad_row_after_a_quoted_newline_names_its_own_line(tmp_path):
    labels = write(tmp_path, 'path,findings,comment\na.png,Mass,"two\nlines"\n../b.png,Nodule,x\n')
    error = refused(labels, fmt="generic",
                    generic_options=GenericOptions(path_column="path", labels_column="findings"))  # fmt: skip
    assert error.line == 4


def test_the_command_exits_non_zero_and_names_the_problem(tmp_path):
    bad = write(tmp_path, NIH_HEADER + "x.png,Nope,0,1,1,M,PA,1,1,1,1\n")
    with pytest.raises(
        CommandError, match=r"nothing imported: .*labels.csv, line 2: unknown finding 'Nope'"
    ):
        call_command(
            "import_dataset",
            "--name",
            "x",
            "--format",
            "chestxray14",
            "--labels",
            str(bad),
            "--no-progress",
        )
