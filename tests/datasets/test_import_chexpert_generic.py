"""CheXpert / MIMIC-CXR-JPG and generic CSV imports.

No CheXpert file can be shipped (its licence forbids it), so `chexpert_train_format.csv` is a
hand-made sample in the exact layout of CheXpert-v1.0's train.csv: its header, its path scheme,
and its four cell values (1.0, 0.0, -1.0, blank).
"""

import pytest

from datasets.importers import GenericOptions, LabelFileError
from datasets.models import Image, ImageLabel, Label
from datasets.services import import_dataset
from tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db
CHEXPERT = FIXTURES / "chexpert_train_format.csv"


def values_of(key):
    return dict(ImageLabel.objects.filter(image__key=key).values_list("label__name", "value"))


def test_chexpert_keeps_positive_negative_uncertain_and_blank_apart():
    import_dataset(name="CheXpert", fmt="chexpert", labels=CHEXPERT)
    key = "CheXpert-v1.0-small/train/patient00002/study2/view1_frontal.jpg"
    assert values_of(key) == {
        "Cardiomegaly": -1, "Lung Opacity": 1, "Edema": -1, "Consolidation": -1,
        "Atelectasis": -1, "Pleural Effusion": -1, "Fracture": 1,
    }  # fmt: skip
    first = values_of("CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg")
    assert first == {"No Finding": 1, "Pneumothorax": 0, "Support Devices": 1}
    assert Label.objects.get(name="No Finding").kind == Label.Kind.NO_FINDING
    assert Label.objects.count() == 14


def test_chexpert_reads_patient_study_and_view_from_the_row():
    summary = import_dataset(name="CheXpert", fmt="chexpert", labels=CHEXPERT)
    image = Image.objects.get(key="CheXpert-v1.0-small/train/patient00002/study1/view2_lateral.jpg")
    assert (image.patient_id, image.study, image.sex, image.age) == (
        "patient00002",
        "study1",
        "Female",
        83,
    )
    assert image.view_position == "Lateral"
    assert (
        Image.objects.get(key__endswith="patient00004/study1/view1_frontal.jpg").view_position
        == "PA"
    )
    assert (summary.images, summary.patients) == (8, 5)


def test_chexpert_files_are_found_when_the_root_is_the_dataset_folder(dataset_root):
    folder = dataset_root / "CheXpert-v1.0-small" / "train" / "patient00001" / "study1"
    folder.mkdir(parents=True)
    (folder / "view1_frontal.jpg").write_bytes(b"jpg")
    summary = import_dataset(name="CheXpert", fmt="chexpert", labels=CHEXPERT,
                             images=dataset_root / "CheXpert-v1.0-small")  # fmt: skip
    assert summary.not_found == 7
    assert Image.objects.get(file_found=True).path == "train/patient00001/study1/view1_frontal.jpg"


def test_mimic_rows_joined_with_dicom_ids_get_the_official_paths(tmp_path):
    header = "subject_id,study_id,dicom_id,ViewPosition," + ",".join(
        ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum",
         "Fracture", "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion",
         "Pleural Other", "Pneumonia", "Pneumothorax", "Support Devices"]
    )  # fmt: skip
    row = "10000032,50414267,02aa804e-bde0afdd-112c0b34-7bc16630-4e384014,PA,,,,,,,,,1.0,,,,,"
    labels = tmp_path / "mimic.csv"
    labels.write_text(f"{header}\n{row}\n")
    import_dataset(name="MIMIC", fmt="chexpert", labels=labels)
    image = Image.objects.get()
    assert (
        image.path
        == "files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.jpg"
    )
    assert (image.patient_id, image.study, image.view_position) == ("10000032", "50414267", "PA")
    assert values_of(image.key) == {"No Finding": 1}


def test_mimic_labels_without_dicom_ids_are_refused_with_the_fix(tmp_path):
    labels = tmp_path / "mimic.csv"
    labels.write_text("subject_id,study_id,No Finding\n1,2,1.0\n")
    with pytest.raises(LabelFileError, match="join them with the metadata"):
        import_dataset(name="MIMIC", fmt="chexpert", labels=labels)


def test_generic_with_one_column_of_separated_labels(tmp_path):
    labels = tmp_path / "g.csv"
    labels.write_text("file;findings;pid\nscans/a.png;Mass|Nodule;P1\nscans/b.png;No Finding;P2\nscans/c.png;;P2\n"
                      .replace(";", ","))  # fmt: skip
    summary = import_dataset(name="g", fmt="generic", labels=labels, generic_options=GenericOptions(
        path_column="file", labels_column="findings", patient_column="pid"))  # fmt: skip
    assert summary.label_counts == {"Mass": 1, "No Finding": 1, "Nodule": 1}
    assert summary.patients == 2
    assert Label.objects.get(name="No Finding").kind == Label.Kind.NO_FINDING
    assert Image.objects.get(key="scans/c.png").labels.count() == 0


def test_generic_with_one_column_per_label(tmp_path):
    labels = tmp_path / "g.csv"
    labels.write_text("path,Mass,Effusion\na.png,yes,0\nb.png,,TRUE\nc.png,-1,no\n")
    import_dataset(name="g", fmt="generic", labels=labels,
                   generic_options=GenericOptions(label_columns=("Mass", "Effusion")))  # fmt: skip
    assert values_of("a.png") == {"Mass": 1, "Effusion": 0}
    assert values_of("b.png") == {"Effusion": 1}
    assert values_of("c.png") == {"Mass": -1, "Effusion": 0}


def test_generic_refuses_an_unknown_cell_value(tmp_path):
    labels = tmp_path / "g.csv"
    labels.write_text("path,Mass\na.png,maybe\n")
    with pytest.raises(LabelFileError, match=r"line 2: column 'Mass': unknown value 'maybe'"):
        import_dataset(name="g", fmt="generic", labels=labels,
                       generic_options=GenericOptions(label_columns=("Mass",)))  # fmt: skip


def test_generic_refuses_a_missing_path_column(tmp_path):
    labels = tmp_path / "g.csv"
    labels.write_text("image,Mass\na.png,1\n")
    with pytest.raises(LabelFileError, match="missing column 'path'"):
        import_dataset(name="g", fmt="generic", labels=labels,
                       generic_options=GenericOptions(label_columns=("Mass",)))  # fmt: skip
