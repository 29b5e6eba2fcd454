"""Reference reads: both file shapes, the named reader, counted strangers, malformed files
refused whole, and a realistic panel file whose accuracy matches a direct computation."""

import csv
import gzip
import random

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import Mark, MarkChange, Membership
from annotation.reads import ReadsError, import_reads, parse_mapping
from annotation.services import build_sample_set, create_audit
from datasets.importers import LabelFileError
from datasets.models import Label
from datasets.services import import_dataset, merge_labels
from reports.stats import GREEN, ORANGE, RED, accuracy_counts
from tests.conftest import NIH_LABELS

pytestmark = pytest.mark.django_db


def _write(path, rows):
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.fixture
def drawn(audit):
    """(key, label name) of three samples of the audit."""
    return [
        (sample.image.key, sample.label.name)
        for sample in audit.samples.select_related("image", "label").order_by("pk")[:3]
    ]


def test_verdicts_become_the_marks_of_a_reader_without_a_password(audit, drawn, tmp_path):
    (k1, l1), (k2, l2), (k3, l3) = drawn
    path = _write(
        tmp_path / "reads.csv",
        [
            ["image", "label", "verdict"],
            [k1, l1, "correct"],
            [k2, l2.upper(), "Wrong"],
            [k3, l3, "orange"],
            ["99999999_000.png", l1, "red"],
            [k1, "Fracture", "green"],
            [k1, "Fracture", "green"],
        ],
    )
    summary = import_reads(audit=audit, reader_name="NIH panel", path=path, fmt="verdicts")
    marks = dict(
        Mark.objects.filter(reader__username="NIH panel").values_list(
            "sample__image__key", "verdict"
        )
    )
    assert marks == {k1: "green", k2: "red", k3: "orange"}
    panel = Membership.objects.get(audit=audit, role="reader", user__username="NIH panel").user
    assert not panel.has_usable_password()
    assert (summary.reads, summary.changed, summary.unknown_images) == (3, 3, 1)
    assert summary.unknown_labels == {"Fracture": 2} and summary.created_reader


def test_importing_the_same_file_again_changes_nothing(audit, drawn, tmp_path):
    path = _write(tmp_path / "r.csv", [["image", "label", "verdict"], [*drawn[0], "red"]])
    import_reads(audit=audit, reader_name="panel", path=path, fmt="verdicts")
    again = import_reads(audit=audit, reader_name="panel", path=path, fmt="verdicts")
    assert (again.reads, again.changed, again.created_reader) == (1, 0, False)
    changes = MarkChange.objects.values_list("old_verdict", "new_verdict")
    # The second import is in the history (its request spent a key) but changed no verdict.
    assert [change for change in changes if change[0] != change[1]] == [("", "red")]


@pytest.mark.parametrize(
    ("rows", "line", "reason"),
    [
        ([["image", "verdict"], ["a", "red"]], 1, "missing column(s) label"),
        ([["image", "label", "verdict"], ["K", "L", "green"], ["K2", "L", "maybe"]], 3, "'maybe'"),
        (
            [["image", "label", "verdict"], ["K", "L", "red"], ["K", "l", "green"]],
            3,
            "red on line 3",
        ),
        ([["image", "label", "verdict"], ["K", "L"]], 2, "expected 3 fields"),
        ([["image", "label", "verdict"], ["", "L", "red"]], 2, "empty image"),
    ],
)
def test_a_malformed_verdicts_file_is_refused_whole_with_line_and_reason(
    audit, drawn, tmp_path, rows, line, reason
):
    good = [[*drawn[0], "green"]]
    path = _write(tmp_path / "bad.csv", [rows[0], *good, *rows[1:]])
    with pytest.raises(LabelFileError) as caught:
        import_reads(audit=audit, reader_name="panel", path=path, fmt="verdicts")
    assert caught.value.line == (line + 1 if line > 1 else 1)
    assert reason in caught.value.reason
    assert not Mark.objects.exists() and not Membership.objects.filter(user__username="panel")


def test_a_persons_account_is_not_a_reference_reader(audit, drawn, tmp_path, reader):
    path = _write(tmp_path / "r.csv", [["image", "label", "verdict"], [*drawn[0], "red"]])
    with pytest.raises(ReadsError, match="person's account"):
        import_reads(audit=audit, reader_name=reader.username, path=path, fmt="verdicts")
    assert not Mark.objects.exists()


def test_a_mapping_to_a_label_the_audit_lacks_names_it(audit, drawn, tmp_path):
    path = _write(tmp_path / "r.csv", [["image", "label", "verdict"], [*drawn[0], "red"]])
    with pytest.raises(ReadsError, match="Hernia is not a label"):
        import_reads(
            audit=audit,
            reader_name="p",
            path=path,
            fmt="verdicts",
            mapping=parse_mapping(["Hernie=Hernia"]),
        )
    with pytest.raises(ReadsError, match="Their name=Our label"):
        parse_mapping(["no equals sign"])


# -- a realistic panel file: the NIH columns, then the panel's four findings and a set id --------

PANEL_FINDINGS = ("Fracture", "Pneumothorax", "Airspace opacity", "Nodule or mass")
OPACITY = ("Atelectasis", "Consolidation", "Infiltration", "Pneumonia")
NODULE_OR_MASS = ("Mass", "Nodule")
MAP = ["Airspace opacity=Opacity", "Nodule or mass=Nodule or Mass"]


def _nih_carries(labels: str, finding: str) -> bool:
    names = set(labels.split("|"))
    members = {"Airspace opacity": OPACITY, "Nodule or mass": NODULE_OR_MASS}.get(
        finding, (finding,)
    )
    return bool(names & set(members))


@pytest.fixture
def panel_files(tmp_path):
    """1,500 real NIH rows (the subset file) and a panel file over them, drawn with a seed: the
    panel agrees with a positive NIH label 65% of the time, leaves 2% of cells blank."""
    rng = random.Random(4376)
    with gzip.open(NIH_LABELS, "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rng.sample(rows[1:], 1500)
    subset = _write(tmp_path / "subset.csv", [header, *body])
    panel_rows = [[*header, *PANEL_FINDINGS, "Set Id"]]
    for row in body:
        cells = []
        for finding in PANEL_FINDINGS:
            truth = rng.random() < (0.65 if _nih_carries(row[1], finding) else 0.05)
            cells.append("" if rng.random() < 0.02 else ("YES" if truth else "NO"))
        panel_rows.append([*row, *cells, rng.choice(["test", "validation"])])
    return subset, _write(tmp_path / "panel.csv", panel_rows)


def test_the_panels_accuracy_equals_a_direct_computation_from_the_two_files(panel_files):
    subset, panel = panel_files
    dataset = import_dataset(name="NIH subset", fmt="chestxray14", labels=subset).dataset
    merge_labels(dataset=dataset, name="Opacity", members=list(OPACITY))
    merge_labels(dataset=dataset, name="Nodule or Mass", members=list(NODULE_OR_MASS))
    audit = create_audit(
        dataset=dataset,
        name="Reference subset in full",
        labels=list(
            Label.objects.filter(
                dataset=dataset, name__in=["Pneumothorax", "Opacity", "Nodule or Mass"]
            )
        ),
        per_label=None,
        one_per_patient=False,
        build=False,
    )
    build_sample_set(audit=audit)
    summary = import_reads(
        audit=audit,
        reader_name="Expert panel",
        path=panel,
        fmt="presence",
        mapping=parse_mapping(MAP),
    )

    # Directly from the two files, with pandas.
    nih = pd.read_csv(subset)
    expert = pd.read_csv(panel, keep_default_na=False)
    both = nih[["Image Index", "Finding Labels"]].merge(
        expert[["Image Index", *PANEL_FINDINGS]], on="Image Index"
    )
    ours = {
        "Pneumothorax": "Pneumothorax",
        "Airspace opacity": "Opacity",
        "Nodule or mass": "Nodule or Mass",
    }
    codes = {"green": GREEN, "orange": ORANGE, "red": RED}
    for finding, label in ours.items():
        carried = both[both["Finding Labels"].map(lambda v, f=finding: _nih_carries(v, f))]
        read = carried[carried[finding] != ""]
        direct = (read[finding] == "YES").mean()
        verdicts = Mark.objects.filter(
            sample__audit=audit, sample__label__name=label, reader__username="Expert panel"
        ).values_list("verdict", flat=True)
        counts = accuracy_counts([codes[v] for v in verdicts])
        assert counts.n == len(read) > 30, label
        assert counts.accuracy == pytest.approx(direct, abs=1e-12), label
    assert summary.unknown_labels["Fracture"] == (expert["Fracture"] != "").sum()
    assert "Set Id" in summary.ignored_columns and "Finding Labels" in summary.ignored_columns
    # Images carrying none of the audited labels were not drawn: counted as not in the audit.
    drawn_for_any = both["Finding Labels"].map(
        lambda v: any(_nih_carries(v, finding) for finding in ours)
    )
    assert summary.unknown_images == (~drawn_for_any).sum() > 0


def test_the_command_reports_what_it_counted_and_refuses_a_bad_file(audit, drawn, tmp_path, capsys):
    path = _write(
        tmp_path / "p.csv",
        [["Image Index", drawn[0][1], "Fracture", "Set Id"], [drawn[0][0], "NO", "YES", "t"]],
    )
    call_command(
        "import_reads",
        audit=audit.pk,
        reader="panel",
        file=path,
        format="presence",
        no_progress=True,
    )
    printed = capsys.readouterr().out
    assert "reads of samples:   1 of 72 samples" in printed and "Fracture (1)" in printed
    bad = _write(tmp_path / "b.csv", [["Image Index", drawn[0][1]], [drawn[0][0], "perhaps"]])
    with pytest.raises(CommandError, match="line 2: column .*'perhaps'"):
        call_command(
            "import_reads",
            audit=audit.pk,
            reader="panel",
            file=bad,
            format="presence",
            no_progress=True,
        )


def test_one_of_their_columns_may_stand_for_several_of_our_labels(small_dataset, tmp_path):
    audit = create_audit(
        dataset=small_dataset,
        name="nodules and masses",
        labels=list(Label.objects.filter(dataset=small_dataset, name__in=["Nodule", "Mass"])),
        per_label=None,
        one_per_patient=False,
        build=False,
    )
    build_sample_set(audit=audit)
    samples = list(audit.samples.select_related("image", "label"))
    keys = sorted({sample.image.key for sample in samples})
    path = _write(
        tmp_path / "panel.csv",
        [
            ["file", "Nodule or mass"],
            *[[key, "yes" if i % 2 else "no"] for i, key in enumerate(keys)],
        ],
    )
    summary = import_reads(
        audit=audit,
        reader_name="panel",
        path=path,
        fmt="presence",
        image_column="file",
        mapping=parse_mapping(["Nodule or mass=Nodule", "Nodule or mass=Mass"]),
    )
    expected = {
        sample.pk: "green" if keys.index(sample.image.key) % 2 else "red" for sample in samples
    }
    got = dict(Mark.objects.filter(reader__username="panel").values_list("sample_id", "verdict"))
    assert got == expected and summary.reads == len(samples) > len(keys) / 2


def test_an_import_tells_the_marks_changed_listeners_once(
    audit, drawn, tmp_path, django_capture_on_commit_callbacks
):
    from annotation.services import marks_changed_signal

    heard = []

    def listener(sender, *, audit_id, **kwargs):
        heard.append(audit_id)

    rows = [["image", "label", "verdict"], *[[key, label, "red"] for key, label in drawn]]
    path = _write(tmp_path / "r.csv", rows)
    marks_changed_signal.connect(listener, dispatch_uid="test-reads-listener")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            import_reads(audit=audit, reader_name="panel", path=path, fmt="verdicts")
    finally:
        marks_changed_signal.disconnect(dispatch_uid="test-reads-listener")
    assert heard == [audit.pk]
