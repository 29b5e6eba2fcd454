"""mark_set: one current mark per reader and tile, every change in history, keys made once."""

import random
import threading

import pytest
from django.db import connections

from annotation.models import GridVisit, Mark, MarkChange, Tag
from annotation.services import (
    AuditError,
    build_sample_set,
    mark_all_unmarked_green,
    mark_set,
    record_grid_time,
)
from tests.annotation.conftest import first_grid, make_audit

pytestmark = pytest.mark.django_db


@pytest.fixture
def sample(audit):
    return first_grid(audit)[1][0]


def test_a_first_mark_creates_the_mark_and_its_history_row(sample, reader):
    mark = mark_set(sample=sample, reader=reader, idempotency_key="k1", verdict="green")
    assert (mark.verdict, Mark.objects.count()) == ("green", 1)
    change = MarkChange.objects.get()
    assert (change.old_verdict, change.new_verdict, change.reader) == ("", "green", reader)


def test_none_leaves_a_part_unchanged_and_an_empty_verdict_clears_it(sample, reader, audit):
    drain = Tag.objects.get(audit=audit, name="chest drain")
    mark_set(sample=sample, reader=reader, idempotency_key="a", verdict="red", note="apex")
    mark_set(sample=sample, reader=reader, idempotency_key="b", tags=[drain.pk])
    mark = mark_set(sample=sample, reader=reader, idempotency_key="c", verdict="")
    mark.refresh_from_db()
    assert (mark.verdict, mark.note, list(mark.tags.all())) == ("", "apex", [drain])
    assert Mark.objects.count() == 1
    history = list(MarkChange.objects.values_list("old_verdict", "new_verdict", "new_tags"))
    assert history == [("", "red", []), ("red", "red", [drain.pk]), ("red", "", [drain.pk])]


def test_a_repeated_key_changes_nothing_and_returns_the_current_mark(sample, reader):
    mark_set(sample=sample, reader=reader, idempotency_key="k1", verdict="green")
    mark_set(sample=sample, reader=reader, idempotency_key="k2", verdict="red")
    again = mark_set(sample=sample, reader=reader, idempotency_key="k1", verdict="green")
    assert again.verdict == "red"
    assert MarkChange.objects.count() == 2


def test_a_request_that_changes_nothing_spends_its_key_in_a_history_row_old_equal_new(
    sample, reader
):
    mark_set(sample=sample, reader=reader, idempotency_key="k1", verdict="orange")
    mark_set(sample=sample, reader=reader, idempotency_key="k2", verdict="orange")
    first, second = MarkChange.objects.order_by("id")
    assert (first.old_verdict, first.new_verdict) == ("", "orange")
    assert (second.idempotency_key, second.old_verdict, second.new_verdict) == (
        "k2",
        "orange",
        "orange",
    )


def test_a_key_used_on_another_tile_is_refused(audit, reader):
    one, two = first_grid(audit)[1][:2]
    mark_set(sample=one, reader=reader, idempotency_key="k1", verdict="green")
    with pytest.raises(AuditError, match="another tile"):
        mark_set(sample=two, reader=reader, idempotency_key="k1", verdict="green")
    assert not Mark.objects.filter(sample=two).exists()


def test_readers_keep_separate_marks_and_may_reuse_a_key(sample, reader, other_reader):
    mark_set(sample=sample, reader=reader, idempotency_key="same", verdict="green")
    mark_set(sample=sample, reader=other_reader, idempotency_key="same", verdict="red")
    assert dict(Mark.objects.values_list("reader__username", "verdict")) == {
        "alice": "green",
        "bob": "red",
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"verdict": "purple"}, "unknown verdict 'purple'"),
        ({"tags": [999999]}, "not tags of this audit"),
        ({"idempotency_key": ""}, "idempotency key"),
        ({"idempotency_key": "x" * 65}, "idempotency key"),
    ],
)
def test_bad_input_is_refused_with_what_was_wrong_and_nothing_written(
    sample, reader, changes, message
):
    arguments = {"idempotency_key": "k", "verdict": "green", **changes}
    with pytest.raises(AuditError, match=message):
        mark_set(sample=sample, reader=reader, **arguments)
    assert not Mark.objects.exists() and not MarkChange.objects.exists()


def test_a_tag_of_another_audit_is_refused(sample, reader, small_dataset, other_reader):
    other = make_audit(small_dataset, [other_reader], name="Other")
    with pytest.raises(AuditError, match="not tags of this audit"):
        mark_set(sample=sample, reader=reader, idempotency_key="k", tags=[other.tags.first().pk])


def test_shift_g_marks_only_the_unmarked_tiles_green(audit, reader):
    label, samples = first_grid(audit)
    mark_set(sample=samples[0], reader=reader, idempotency_key="k", verdict="red")
    mark_set(sample=samples[1], reader=reader, idempotency_key="k2", verdict="orange")
    mark_set(sample=samples[1], reader=reader, idempotency_key="k3", verdict="")
    marks = mark_all_unmarked_green(
        audit=audit, label=label, grid=0, reader=reader, idempotency_key="g"
    )
    assert len(marks) == 17
    verdicts = dict(Mark.objects.filter(reader=reader).values_list("sample_id", "verdict"))
    assert verdicts[samples[0].pk] == "red"
    assert [verdicts[s.pk] for s in samples[1:]] == ["green"] * 17
    # The second grid is untouched, and repeating the request changes nothing.
    assert Mark.objects.filter(reader=reader).count() == 18
    mark_all_unmarked_green(audit=audit, label=label, grid=0, reader=reader, idempotency_key="g")
    assert MarkChange.objects.count() == 3 + 17


def test_time_on_a_grid_adds_up_and_ignores_nonsense(audit, reader):
    label, _ = first_grid(audit)
    for seconds in (12.5, 7.5, -3, float("nan")):
        record_grid_time(audit=audit, label=label, grid=0, reader=reader, seconds=seconds)
    record_grid_time(audit=audit, label=label, grid=0, reader=reader, seconds=10**9)
    assert GridVisit.objects.get().seconds == 20 + 3600


def test_building_twice_leaves_the_first_set_and_its_marks(audit, sample, reader):
    mark_set(sample=sample, reader=reader, idempotency_key="k", verdict="green")
    before = list(audit.samples.values_list("pk", "image_id", "position"))
    build_sample_set(audit=audit)
    assert list(audit.samples.values_list("pk", "image_id", "position")) == before
    assert Mark.objects.get().sample_id == sample.pk


# -- concurrency: real threads, each with its own connection ----------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_repeated_and_conflicting_marks_leave_one_mark_and_a_complete_history(
    small_dataset, reader, other_reader
):
    audit = make_audit(small_dataset, [reader, other_reader])
    samples = list(audit.samples.order_by("pk")[:3])
    tags = list(audit.tags.values_list("pk", flat=True))
    verdicts = ["green", "orange", "red", ""]
    # 8 threads x 40 requests on 3 tiles by 2 readers; a third of them reuse an earlier key
    # (a retried request), so the same key is often in flight in two threads at once.
    keys = [f"key-{n}" for n in range(60)]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            for _ in range(40):
                key = rng.choice(keys)
                who = reader if key.endswith(("0", "2", "4", "6", "8")) else other_reader
                sample = samples[int(key.split("-")[1]) % 3]
                mark_set(
                    sample=sample,
                    reader=who,
                    idempotency_key=key,
                    verdict=rng.choice(verdicts),
                    tags=rng.sample(tags, rng.randint(0, 2)) if rng.random() < 0.5 else None,
                )
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Exactly one current mark per (tile, reader) that was ever touched.
    pairs = list(Mark.objects.values_list("sample_id", "reader_id"))
    assert len(pairs) == len(set(pairs))
    # Each key applied at most once; the history of each mark is an unbroken chain from
    # nothing to the current mark.
    changes = list(MarkChange.objects.order_by("id"))
    assert len({(c.reader_id, c.idempotency_key) for c in changes}) == len(changes)
    for mark in Mark.objects.prefetch_related("tags"):
        chain = [
            c for c in changes if (c.sample_id, c.reader_id) == (mark.sample_id, mark.reader_id)
        ]
        state = ("", [])
        for change in chain:
            assert (change.old_verdict, change.old_tags) == state
            state = (change.new_verdict, change.new_tags)
        assert state == (mark.verdict, sorted(tag.pk for tag in mark.tags.all()))


def test_a_request_that_changed_nothing_replayed_after_a_later_change_does_not_undo_it(
    sample, reader
):
    mark_set(sample=sample, reader=reader, idempotency_key="k1", verdict="green")
    mark_set(sample=sample, reader=reader, idempotency_key="k2", verdict="green")  # no change
    mark_set(sample=sample, reader=reader, idempotency_key="k3", verdict="red")
    mark = mark_set(sample=sample, reader=reader, idempotency_key="k2", verdict="green")  # replay
    assert mark.verdict == "red"
    assert Mark.objects.get(sample=sample, reader=reader).verdict == "red"
