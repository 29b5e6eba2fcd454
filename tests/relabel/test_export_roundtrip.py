"""The relabeled export on the real NIH file: import, audit, marks, export with each rule,
re-import. The changes are exactly the red verdicts of the rule; every other byte of the
original columns is the original's."""

import csv
import gzip
import random
from collections import Counter

import pytest
from django.core.management import call_command

from annotation.adjudication import adjudicate
from annotation.models import Mark, Membership
from datasets.importers import chestxray14
from datasets.models import ImageLabel
from datasets.relabeled import PROVENANCE, export_relabeled
from datasets.services import import_dataset, merge_labels
from tests.conftest import NIH_LABELS
from tests.relabel.conftest import make_audit, mark

pytestmark = pytest.mark.django_db

LABELS = ("Pneumothorax", "Mass", "Opacity", "No Finding")
OPACITY = {"Atelectasis", "Consolidation", "Infiltration", "Pneumonia"}


@pytest.fixture
def nih(django_user_model):
    dataset = import_dataset(name="NIH", fmt="chestxray14", labels=NIH_LABELS).dataset
    merge_labels(dataset=dataset, name="Opacity", members=sorted(OPACITY))
    return dataset


@pytest.fixture
def marked(nih, django_user_model):
    """Three readers mark 40 tiles per label at random; an adjudicator decides a few."""
    readers = [django_user_model.objects.create_user(name) for name in ("r1", "r2", "r3")]
    audit = make_audit(nih, readers, labels=LABELS, per_label=40, one_per_patient=True)
    judge = django_user_model.objects.create_user("judge")
    Membership.objects.create(audit=audit, user=judge, role=Membership.Role.ADJUDICATOR)
    rng = random.Random(11)
    samples = list(audit.samples.select_related("label").order_by("pk"))
    for sample in samples:
        for reader in readers:
            if rng.random() < 0.9:
                mark(sample, reader, rng.choice(["green", "orange", "red", "red"]))
    for sample in rng.sample(samples, 25):
        adjudicate(sample=sample, adjudicator=judge, verdict=rng.choice(["green", "red"]))
    return audit


def _expected_removals(audit, rule):
    """image key -> findings the rule removes, computed here from the marks themselves."""
    votes: dict[int, list[str]] = {}
    for sample_id, verdict in (
        Mark.objects.filter(sample__audit=audit)
        .exclude(verdict="")
        .values_list("sample_id", "verdict")
    ):
        votes.setdefault(sample_id, []).append(verdict)
    adjudicated = {
        sample.pk: sample.adjudication.verdict
        for sample in audit.samples.filter(adjudication__isnull=False).select_related(
            "adjudication"
        )
    }
    removals: dict[str, set[str]] = {}
    for sample in audit.samples.select_related("image", "label"):
        given = votes.get(sample.pk, [])
        judged = adjudicated.get(sample.pk)
        if rule == "adjudicated":
            red = judged == "red"
        elif rule == "unanimous":
            red = bool(given) and all(v == "red" for v in given) and judged in (None, "red")
        else:
            counts = Counter(given).most_common()
            top = [v for v, n in counts if n == counts[0][1]] if counts else []
            red = judged == "red" if judged else top == ["red"]
        if red and sample.label.name != "No Finding":
            members = OPACITY if sample.label.name == "Opacity" else {sample.label.name}
            removals.setdefault(sample.image.key, set()).update(members)
    return removals


def _original_lines():
    with gzip.open(NIH_LABELS, "rt", encoding="utf-8", newline="") as handle:
        return handle.read().splitlines()


def test_the_changes_are_exactly_each_rules_red_verdicts_and_the_rest_is_byte_identical(
    marked, nih, tmp_path
):
    # One test for the three rules: the full-file fixture is the slow part.
    original = _original_lines()
    for rule in ("consensus", "unanimous", "adjudicated"):
        _check_rule(marked, nih, rule, tmp_path / f"{rule}.csv", original)


def _check_rule(marked, nih, rule, out, original):
    summary = export_relabeled(dataset=nih, rule=rule, out=out, audit=marked)
    expected = _expected_removals(marked, rule)
    exported = out.read_text(encoding="utf-8").split("\n")
    assert exported[-1] == ""  # the file ends with a line end, as the original does
    exported = exported[:-1]
    assert len(exported) == len(original) == 112_121
    assert exported[0] == original[0] + "," + ",".join(PROVENANCE)
    changed = Counter()
    for before, after in zip(original[1:], exported[1:], strict=True):
        cells = next(csv.reader([after]))
        head, provenance = cells[:11], cells[11:]
        old = next(csv.reader([before]))
        key = old[0]
        gone = expected.get(key, set()) & set(old[1].split("|"))
        if gone:
            kept = [name for name in old[1].split("|") if name not in gone]
            assert head[1] == ("|".join(kept) or "No Finding"), key
            assert head[:1] + head[2:] == old[:1] + old[2:]
            assert provenance[1] == "changed" and set(provenance[9].split("|")) == gone
            changed.update(gone)
        else:
            # Byte for byte: the original line, then the provenance cells.
            assert after.startswith(before + ","), key
            assert provenance[1] in ("unreviewed", "unchanged")
    assert changed == summary.removed
    assert sum(changed.values()) > 0, rule


def test_a_reimported_export_is_a_new_version_with_exactly_the_removed_labels(
    marked, nih, tmp_path
):
    out = tmp_path / "relabeled.csv"
    summary = export_relabeled(dataset=nih, rule="consensus", out=out, audit=marked)
    assert summary.changed > 0
    version = import_dataset(name="NIH relabeled", fmt="chestxray14", labels=out).dataset
    before = Counter(
        ImageLabel.objects.filter(image__dataset=nih).values_list("label__name", flat=True)
    )
    after = Counter(
        ImageLabel.objects.filter(image__dataset=version).values_list("label__name", flat=True)
    )
    emptied = sum(
        1
        for key, gone in _expected_removals(marked, "consensus").items()
        if set(
            ImageLabel.objects.filter(image__dataset=nih, image__key=key).values_list(
                "label__name", flat=True
            )
        )
        <= gone
    )
    for name in chestxray14.FINDINGS:
        assert before[name] - after[name] == summary.removed.get(name, 0), name
    assert after["No Finding"] - before["No Finding"] == emptied
    # Image by image: the new version's labels are the old ones minus the removals.
    removals = _expected_removals(marked, "consensus")
    old, new = _labels_by_key(nih), _labels_by_key(version)
    assert old.keys() == new.keys()
    for key, labels in old.items():
        expected = (labels - removals.get(key, set())) or {"No Finding"}
        assert new[key] == expected, key


def _labels_by_key(dataset):
    found: dict[str, set[str]] = {}
    rows = ImageLabel.objects.filter(image__dataset=dataset).values_list(
        "image__key", "label__name"
    )
    for key, name in rows.iterator(chunk_size=20000):
        found.setdefault(key, set()).add(name)
    return found


def test_the_command_writes_the_file_atomically_and_prints_the_summary(marked, tmp_path, capsys):
    out = tmp_path / "exports" / "out.csv"
    out.parent.mkdir()
    out.write_text("an older export\n")
    call_command("export_relabeled", audit=marked.pk, rule="consensus", out=out, no_progress=True)
    printed = capsys.readouterr().out
    assert "rows:     112,120" in printed
    assert out.read_text().startswith("Image Index,Finding Labels")
    assert [path.name for path in out.parent.iterdir()] == ["out.csv"]  # no temporary left
