"""The rendition cache (datasets/renditions.py) and its warming task (datasets/tasks.py), wired
after an audit's sample set is built."""

import time

import numpy as np
import pytest
from celery.exceptions import Retry
from PIL import Image as PILImage

import datasets.renditions as renditions
from annotation.models import Audit
from annotation.services import create_audit
from annotation.tasks import build_sample_set
from datasets.imaging import Window
from datasets.models import Dataset, Image, ImageLabel, Label
from datasets.renditions import TILE, VIEWER, Spec, digest, make_renditions, tiles_ready, warm
from datasets.tasks import warm_in_chunks, warm_thumbnails


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, settings):
    settings.IMAGE_CACHE_ROOT = tmp_path / "cache"
    settings.IMAGE_WARM_SIZES = ["tile"]
    return settings.IMAGE_CACHE_ROOT


def make_dataset(root, count=6, broken=()):
    dataset = Dataset.objects.create(name="D", slug="d", format="generic", root=str(root))
    label = Label.objects.create(dataset=dataset, name="Effusion")
    rng = np.random.default_rng(11)
    images = []
    for index in range(count):
        path = root / f"{index:03d}.png"
        if index in broken:
            path.write_text("not a picture")
        else:
            PILImage.fromarray(rng.integers(0, 256, (300, 400), dtype=np.uint8)).save(path)
        image = Image.objects.create(
            dataset=dataset,
            key=f"{index:03d}.png",
            path=path.name,
            patient_id=str(index),
            file_found=True,
        )
        ImageLabel.objects.create(image=image, label=label)
        images.append(image)
    return dataset, label, images


def test_the_key_changes_with_every_rendering_parameter():
    base = digest(1, "a.png", TILE)
    assert digest(1, "a.png", Spec("tile")) == base  # stable
    others = {
        digest(2, "a.png", TILE),
        digest(1, "b.png", TILE),
        digest(1, "a.png", VIEWER),
        digest(1, "a.png", Spec("tile", "lung")),
        digest(1, "a.png", Spec("tile", window=Window(10, 20, "LINEAR_EXACT"))),
        digest(1, "a.png", Spec("tile", window=Window(10, 21, "LINEAR_EXACT"))),
    }
    assert base not in others and len(others) == 6


def test_the_format_setting_changes_the_key_and_the_file(settings, dataset_root, cache_dir, db):
    _, _, images = make_dataset(dataset_root, count=1)
    jpeg = make_renditions(images[0], [TILE])[0]
    settings.IMAGE_RENDITION_FORMAT = "webp"
    webp = make_renditions(images[0], [TILE])[0]
    assert jpeg != webp and webp.suffix == ".webp"
    assert PILImage.open(webp).format == "WEBP" and PILImage.open(jpeg).format == "JPEG"


@pytest.mark.django_db
def test_several_renditions_come_from_one_decode(dataset_root, monkeypatch):
    _, _, images = make_dataset(dataset_root, count=1)
    calls = []
    real = renditions.decode
    monkeypatch.setattr(renditions, "decode", lambda *a, **k: calls.append(k) or real(*a, **k))
    renditions._decoded_lru.clear()
    tile, viewer = make_renditions(images[0], [TILE, VIEWER])
    assert len(calls) == 1 and calls[0]["min_size"] == 1024
    assert PILImage.open(tile).size == (256, 192) and PILImage.open(viewer).size == (400, 300)
    make_renditions(images[0], [TILE, VIEWER])  # both cached: nothing decoded
    assert len(calls) == 1


@pytest.mark.django_db
def test_no_temporary_file_is_left_behind(dataset_root, cache_dir):
    _, _, images = make_dataset(dataset_root, count=2)
    warm([image.pk for image in images])
    names = [path.name for path in cache_dir.rglob("*") if path.is_file()]
    assert len(names) == 2 and not any(name.startswith(".tmp") for name in names)


@pytest.mark.django_db
def test_warming_renders_the_tiles_and_records_the_unreadable(dataset_root):
    _, _, images = make_dataset(dataset_root, count=5, broken={2})
    ids = [image.pk for image in images]
    seen = []
    result = warm(ids, progress=lambda done, total: seen.append((done, total)))
    assert (result.rendered, result.unreadable, result.retry) == (4, 1, [])
    assert seen == [(i, 5) for i in range(1, 6)]
    assert tiles_ready(ids) == 4
    assert Image.objects.get(pk=ids[2]).unreadable_reason == "not a PNG, JPEG or DICOM file"
    again = warm(ids)  # the unreadable one is not tried again
    assert (again.rendered, again.unreadable) == (4, 0)


@pytest.mark.django_db
def test_a_transient_failure_is_retried_a_bounded_number_of_times(dataset_root, monkeypatch):
    _, _, images = make_dataset(dataset_root, count=3)
    (dataset_root / "001.png").unlink()  # as if the mount were missing for this file
    ids = [image.pk for image in images]
    retried = []

    def fake_retry(*, args, countdown):
        retried.append((args, countdown))
        return Retry()

    monkeypatch.setattr(warm_thumbnails, "retry", fake_retry)
    for attempt in range(4):
        warm_thumbnails.push_request(id=f"t{attempt}", retries=attempt, is_eager=False)
        try:
            if attempt < 3:
                with pytest.raises(Retry):
                    warm_thumbnails.run(ids)
            else:
                assert warm_thumbnails.run(ids) == {"rendered": 2, "unreadable": 0, "failed": 1}
        finally:
            warm_thumbnails.pop_request()
    # only the failed image is sent again, with a growing delay, and never after the third retry
    assert retried == [([[ids[1]]], 30), ([[ids[1]]], 60), ([[ids[1]]], 120)]
    assert Image.objects.get(pk=ids[1]).unreadable_reason == ""


@pytest.mark.django_db
def test_warming_is_split_into_chunks_queued_through_the_outbox(dataset_root, settings):
    from annotation.outbox import OutboxTask

    settings.IMAGE_WARM_CHUNK = 2
    _, _, images = make_dataset(dataset_root, count=5)
    ids = [image.pk for image in images]
    assert warm_in_chunks(ids + ids[:2], key="warm:9") == 3
    rows = OutboxTask.objects.filter(task_name=warm_thumbnails.name).order_by("key")
    assert [(row.key, row.kwargs) for row in rows] == [
        ("warm:9:0", {"image_ids": ids[0:2]}),
        ("warm:9:1", {"image_ids": ids[2:4]}),
        ("warm:9:2", {"image_ids": ids[4:5]}),
    ]
    # A build redone while its chunks still wait (the broker down) queues nothing more.
    assert warm_in_chunks(ids, key="warm:9") == 3
    assert rows.count() == 3


@pytest.mark.django_db(transaction=True)
def test_building_a_sample_set_warms_its_thumbnails(dataset_root, task_runner, reader):
    dataset, label, images = make_dataset(dataset_root, count=6, broken={4})
    audit = create_audit(
        dataset=dataset, name="A", labels=[label], per_label=6, readers=[reader], build=False
    )
    assert build_sample_set.delay(audit.pk).get(timeout=120) == 6
    assert Audit.objects.get(pk=audit.pk).status == Audit.Status.READY
    ids = [image.pk for image in images]
    deadline = time.monotonic() + 60
    while tiles_ready(ids) < 5 and time.monotonic() < deadline:  # a real worker warms later
        time.sleep(0.2)
    assert tiles_ready(ids) == 5
    assert Image.objects.get(pk=ids[4]).unreadable_reason == "not a PNG, JPEG or DICOM file"


@pytest.mark.django_db
def test_a_failure_to_warm_never_fails_the_build(dataset_root, reader, monkeypatch):
    dataset, label, _ = make_dataset(dataset_root, count=3)
    audit = create_audit(
        dataset=dataset, name="A", labels=[label], per_label=3, readers=[reader], build=False
    )

    def broken(chunk):
        raise ConnectionError("broker down")

    monkeypatch.setattr(warm_thumbnails, "delay", broken)
    assert build_sample_set(audit.pk) == 3
    assert Audit.objects.get(pk=audit.pk).status == Audit.Status.READY


@pytest.mark.django_db
def test_the_retry_command_forgets_recorded_reasons(dataset_root):
    from io import StringIO

    from django.core.management import call_command

    dataset, _, images = make_dataset(dataset_root, count=3, broken={0, 1})
    warm([image.pk for image in images])
    assert Image.objects.exclude(unreadable_reason="").count() == 2
    (dataset_root / "000.png").write_bytes((dataset_root / "002.png").read_bytes())  # fixed
    out = StringIO()
    call_command("retry_unreadable", dataset.slug, stdout=out)
    assert "2 image(s)" in out.getvalue()
    result = warm([image.pk for image in images])
    assert (result.rendered, result.unreadable) == (2, 1)
