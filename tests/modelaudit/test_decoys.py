"""Decoys: drawn from images without the label, placed reproducibly, invisible to readers,
counted per reader for vigilance; and the shuffled-labels control."""

import re

import pytest
from django.urls import reverse

from annotation import decoys
from annotation.models import Sample
from annotation.services import AuditError, build_sample_set, create_audit, mark_set
from annotation.shuffled import permutation, shuffled_check
from reports.stats import proportion_ci


def _audit(synthetic, readers, fraction=0.2, **options):
    audit = create_audit(
        dataset=synthetic.dataset, name=options.pop("name", "Pneumothorax check"),
        labels=[synthetic.pneumothorax], per_label=40, readers=readers, build=False,
        decoy_fraction=fraction, **options,
    )  # fmt: skip
    build_sample_set(audit=audit)
    return audit


def test_decoy_count_makes_decoys_the_given_share_of_tiles():
    assert decoys.decoy_count(40, 0.2) == 10  # 10 of 50 tiles
    assert decoys.decoy_count(126, 0.05) == 7
    assert decoys.decoy_count(126, 0) == 0
    with pytest.raises(ValueError):
        decoys.decoy_count(10, 0.6)


def test_interleave_keeps_real_order_and_is_seeded():
    real = [decoys.Planned(i) for i in range(10)]
    fake = [decoys.Planned(100 + i) for i in range(3)]
    first = decoys.interleave(real, fake, seed=7, label="X")
    assert [p.image_id for p in first if not p.is_decoy] == list(range(10))
    assert [p.image_id for p in first if p.is_decoy] == [100, 101, 102]
    assert first == decoys.interleave(real, fake, seed=7, label="X")
    assert first != decoys.interleave(real, fake, seed=8, label="X")


def test_decoys_never_carry_the_label_and_the_draw_is_reproducible(synthetic, reader):
    audit = _audit(synthetic, [reader])
    again = _audit(synthetic, [reader], name="again")
    samples = list(audit.samples.order_by("position"))
    fakes = [s for s in samples if s.is_decoy]
    assert len(samples) == 50 and len(fakes) == 10
    positives = {i.pk for i, t in zip(synthetic.images, synthetic.truth, strict=True) if t}
    assert all(s.image_id not in positives for s in fakes)
    assert all(s.image_id in positives for s in samples if not s.is_decoy)
    assert [(s.image_id, s.is_decoy) for s in samples] == list(
        again.samples.order_by("position").values_list("image_id", "is_decoy")
    )
    # Not all at the end: decoys are spread among the real tiles.
    assert max(s.position for s in fakes) - min(s.position for s in fakes) > 10


def test_no_decoys_by_default_and_a_bad_fraction_is_refused(synthetic, reader):
    audit = _audit(synthetic, [reader], fraction=0.0, name="plain")
    assert not audit.samples.filter(is_decoy=True).exists()
    with pytest.raises(AuditError, match="decoy fraction"):
        _audit(synthetic, [reader], fraction=0.7, name="bad")


def _normalise(html, sample):
    """The tile with its own identifiers (sample id, image id, key) blanked out."""
    html = re.sub(r"[0-9a-f]{32}-\d+", "KEY-ID", html)  # the tile's idempotency key
    html = re.sub(r'name="csrfmiddlewaretoken" value="\w+"', "CSRF", html)
    html = re.sub(rf"(tile-|data-sample-id=\"|/samples/){sample.pk}\b", r"\1ID", html)
    html = re.sub(rf"/images/{sample.image_id}/", "/images/IMG/", html)
    return html.replace(sample.image.key, "KEY")


def test_readers_cannot_tell_a_decoy_in_the_page_or_the_api(client, synthetic, reader, password):
    audit = _audit(synthetic, [reader])
    client.force_login(reader)
    label = synthetic.pneumothorax
    for grid in (1, 2, 3):
        page = client.get(reverse("annotation:grid", args=[audit.pk, label.pk, grid]))
        assert page.status_code == 200
        assert b"decoy" not in page.content.lower()
        api = client.get(f"/api/audits/{audit.pk}/labels/{label.pk}/grids/{grid}/")
        assert api.status_code == 200 and "decoy" not in api.content.decode().lower()
    fake = audit.samples.filter(is_decoy=True).select_related("image").first()
    real = audit.samples.filter(is_decoy=False).select_related("image").first()
    tiles = {}
    for sample in (fake, real):
        grid = sample.position // audit.grid_size + 1
        html = client.get(
            reverse("annotation:grid", args=[audit.pk, label.pk, grid])
        ).content.decode()
        start = html.index(f'id="tile-{sample.pk}"')
        tiles[sample.is_decoy] = _normalise(html[start : html.index("</article>", start)], sample)
        mark = client.get(f"/api/samples/{sample.pk}/mark/").json()
        assert set(mark) == {
            "sample",
            "position",
            "image",
            "key",
            "cell",
            "verdict",
            "tags",
            "note",
        }
    assert tiles[True] == tiles[False]


def test_vigilance_is_the_share_of_decoys_marked_red_per_reader(synthetic, reader, other_reader):
    audit = _audit(synthetic, [reader, other_reader])
    fakes = list(audit.samples.filter(is_decoy=True).order_by("position"))
    for i, sample in enumerate(fakes):
        mark_set(
            sample=sample,
            reader=reader,
            idempotency_key=f"a{i}",
            verdict="red" if i < 8 else "green",
        )
    for i, sample in enumerate(fakes[:4]):
        mark_set(sample=sample, reader=other_reader, idempotency_key=f"b{i}", verdict="red")
    rows = {row.reader: row for row in decoys.reader_vigilance(audit)}
    alice, bob = rows[reader.username], rows[other_reader.username]
    assert (alice.red, alice.marked) == (8, 10) and alice.share == 0.8
    assert (alice.low, alice.high) == pytest.approx(proportion_ci(8, 10))
    assert (bob.red, bob.marked) == (4, 4)


def test_shuffled_control_draws_permuted_labels_and_compares_with_the_truth(synthetic, reader):
    audit = create_audit(
        dataset=synthetic.dataset, name="shuffled", labels=[synthetic.pneumothorax],
        per_label=60, readers=[reader], build=False, kind="shuffled_control",
    )  # fmt: skip
    build_sample_set(audit=audit)
    images = sorted(synthetic.images, key=lambda image: image.key)
    truth = {i.pk: t for i, t in zip(synthetic.images, synthetic.truth, strict=True)}
    order = permutation(len(images), audit.seed)
    carriers = {
        image.pk for image, source in zip(images, order, strict=True) if truth[images[source].pk]
    }
    drawn = list(audit.samples.values_list("image_id", flat=True))
    assert len(drawn) == 60 and set(drawn) <= carriers
    # A careless reader marks everything green: far above what looking would give.
    for sample in Sample.objects.filter(audit=audit):
        mark_set(sample=sample, reader=reader, idempotency_key=str(sample.pk), verdict="green")
    [row] = shuffled_check(audit)
    carrying = sum(truth[pk] for pk in drawn)
    assert row["accuracy"] == 1 and row["expected"] == pytest.approx(carrying / 60)
    assert row["flagged"]
