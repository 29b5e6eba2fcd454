"""Serving tiles, viewer renditions and the viewer fragment: who may see them, caching headers,
traversal attempts, unreadable files and the rule that no DICOM identifier leaves the server."""

import shutil
from io import BytesIO

import numpy as np
import pydicom
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image as PILImage
from pydicom.data import get_testdata_file

from annotation.models import Audit, Membership, Sample
from datasets.models import Dataset, Image, Label
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.django_db

CANARY = "Canary^Zebediah"
CANARY_ID = "CANARY-ID-8472"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, settings):
    settings.IMAGE_CACHE_ROOT = tmp_path / "cache"
    settings.IMAGE_ACCEL_REDIRECT_PREFIX = ""
    return settings.IMAGE_CACHE_ROOT


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path, format="PNG")


@pytest.fixture
def dataset(dataset_root):
    rng = np.random.default_rng(5)
    write_png(
        dataset_root / "images_001" / "a.png", rng.integers(0, 256, (600, 800), dtype=np.uint8)
    )
    shutil.copy(SHARED_DATA / "RG1_J2KI.dcm", dataset_root / "rg1.dcm")
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName, ds.PatientID = CANARY, CANARY_ID
    ds.InstitutionName, ds.AccessionNumber = "Canary General Hospital", "ACC-CANARY-1"
    ds.save_as(dataset_root / "ct.dcm")
    (dataset_root / "notes.png").write_text("not an image")
    data = (dataset_root / "images_001" / "a.png").read_bytes()
    (dataset_root / "cut.png").write_bytes(data[: len(data) // 3])
    return Dataset.objects.create(
        name="Test", slug="test", format="generic", root=str(dataset_root)
    )


@pytest.fixture
def images(dataset):
    made = {}
    for key, path in [
        ("a", "images_001/a.png"),
        ("rg1", "rg1.dcm"),
        ("ct", "ct.dcm"),
        ("notes", "notes.png"),
        ("cut", "cut.png"),
    ]:
        made[key] = Image.objects.create(
            dataset=dataset, key=f"{key}-key", path=path, file_found=True
        )
    return made


@pytest.fixture
def audit(dataset, images, reader):
    audit = Audit.objects.create(dataset=dataset, name="Audit", status=Audit.Status.READY)
    label = Label.objects.create(dataset=dataset, name="Effusion")
    for position, image in enumerate(images.values()):
        Sample.objects.create(audit=audit, label=label, image=image, position=position)
    Membership.objects.create(audit=audit, user=reader, role=Membership.Role.READER)
    return audit


@pytest.fixture
def reader_client(client, reader, password, audit):
    client.login(username=reader.username, password=password)
    return client


def thumb(image):
    return reverse("datasets:thumbnail", args=[image.pk])


def as_picture(response):
    return PILImage.open(BytesIO(body_of(response)))


def body_of(response) -> bytes:
    """Tiles come in memory, bigger renditions streamed from the file."""
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- access --------------------------------------------------------------------------------


def test_a_reader_of_the_audit_gets_the_tile(reader_client, images):
    response = reader_client.get(thumb(images["a"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    picture = as_picture(response)
    assert picture.size == (256, 192)  # 800 x 600: aspect ratio kept


def test_an_anonymous_visitor_is_sent_to_log_in(client, images, audit):
    response = client.get(thumb(images["a"]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("view", ["thumbnail", "viewer"])
def test_an_outsider_gets_404_for_an_image_outside_their_audits(
    client, outsider, password, images, audit, view
):
    client.login(username=outsider.username, password=password)
    assert client.get(reverse(f"datasets:{view}", args=[images["a"].pk])).status_code == 404
    rendition = reverse("datasets:rendition", args=[images["a"].pk, "viewer"])
    assert client.get(rendition).status_code == 404


def test_a_maintainer_and_an_admin_see_every_image_of_the_dataset(
    client, django_user_model, password, dataset, images, admin_user
):
    maintainer = django_user_model.objects.create_user("maria", password=password)
    dataset.maintainers.add(maintainer)
    for user in (maintainer, admin_user):
        client.login(username=user.username, password=password)
        assert client.get(thumb(images["a"])).status_code == 200  # no audit at all
        client.logout()


def test_a_missing_image_is_404(reader_client):
    assert reader_client.get(reverse("datasets:thumbnail", args=[999_999])).status_code == 404


def test_the_tile_costs_two_queries_the_session_then_user_image_and_access(reader_client, images):
    reader_client.get(thumb(images["a"]))  # rendered and cached
    with CaptureQueriesContext(connection) as queries:
        response = reader_client.get(thumb(images["a"]))
    assert response.status_code == 200
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 2, statements
    assert "django_session" in statements[0] and "auth_user" in statements[1]


def test_the_tile_middleware_matches_the_tile_route_and_nothing_else():
    from datasets.tile_middleware import TILE_PATH

    assert TILE_PATH.match(reverse("datasets:thumbnail", args=[7]))[1] == "7"
    for other in (
        reverse("datasets:viewer", args=[7]),
        reverse("datasets:rendition", args=[7, "viewer"]),
        "/images/7/thumbnail/extra",
        "/images/x/thumbnail/",
    ):
        assert not TILE_PATH.match(other), other


def test_a_tile_from_the_fast_path_carries_its_length_and_the_security_headers(
    reader_client, images
):
    """The middleware answers before CommonMiddleware (Content-Length) and after
    SecurityMiddleware and the request id; HEAD takes the view and agrees."""
    response = reader_client.get(thumb(images["a"]))
    assert response.status_code == 200
    assert int(response["Content-Length"]) == len(response.content) > 1000
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Request-ID"]
    head = reader_client.head(thumb(images["a"]))
    assert head.status_code == 200 and head["ETag"] == response["ETag"]


def test_the_request_log_names_the_reader_of_a_fast_path_tile(
    reader_client, reader, images, caplog
):
    with caplog.at_level("INFO", logger="label_audit.request"):
        assert reader_client.get(thumb(images["a"])).status_code == 200
    (record,) = [r for r in caplog.records if r.name == "label_audit.request"]
    assert record.path == thumb(images["a"]) and record.user_id == reader.pk


def test_after_logout_the_tile_is_refused(reader_client, images):
    assert reader_client.get(thumb(images["a"])).status_code == 200
    reader_client.post("/accounts/logout/")
    response = reader_client.get(thumb(images["a"]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_password_change_ends_the_session_for_tiles_too(reader_client, reader, images):
    assert reader_client.get(thumb(images["a"])).status_code == 200
    reader.set_password("a-new-long-password-77")
    reader.save()
    assert reader_client.get(thumb(images["a"])).status_code == 302


def test_a_deactivated_user_gets_no_tile(reader_client, reader, images):
    reader.is_active = False
    reader.save()
    assert reader_client.get(thumb(images["a"])).status_code == 302


def test_an_expired_session_gets_no_tile(reader_client, images):
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    Session.objects.update(expire_date=timezone.now() - timezone.timedelta(seconds=1))
    assert reader_client.get(thumb(images["a"])).status_code == 302


def test_a_forged_session_cookie_gets_no_tile(client, images, audit, settings):
    client.cookies[settings.SESSION_COOKIE_NAME] = "x" * 32
    assert client.get(thumb(images["a"])).status_code == 302


def test_the_fast_path_and_image_for_agree_for_every_kind_of_user(
    client, django_user_model, password, dataset, images, audit, reader, outsider, admin_user
):
    """Whoever asks, the tile view answers as image_for decides (200 or 404)."""
    from django.http import Http404

    from annotation.access import image_for

    maintainer = django_user_model.objects.create_user("maria", password=password)
    dataset.maintainers.add(maintainer)
    other = Dataset.objects.create(
        name="Other", slug="other", format="generic", root=str(dataset.root)
    )
    elsewhere = Image.objects.create(dataset=other, key="x", path="images_001/a.png")
    for user in (reader, outsider, admin_user, maintainer):
        client.login(username=user.username, password=password)
        for image in (images["a"], elsewhere):
            try:
                image_for(user, image.pk)
                expected = 200
            except Http404:
                expected = 404
            assert client.get(thumb(image)).status_code == expected, (user.username, image.key)
        client.logout()


# --- caching -------------------------------------------------------------------------------


def test_a_cached_tile_has_an_etag_and_a_private_max_age(reader_client, images, cache_dir):
    first = reader_client.get(thumb(images["a"]))
    etag = first["ETag"]
    assert etag.startswith('"') and first["Cache-Control"].startswith("private, max-age=")
    files = list(cache_dir.rglob("*.jpg"))
    assert len(files) == 1
    again = reader_client.get(thumb(images["a"]))
    assert again["ETag"] == etag and body_of(again) == files[0].read_bytes()


def test_a_conditional_request_is_answered_304_without_touching_the_disk(
    reader_client, images, cache_dir
):
    etag = reader_client.get(thumb(images["a"]))["ETag"]
    shutil.rmtree(cache_dir)  # were the file opened, it would be rendered again
    response = reader_client.get(thumb(images["a"]), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304 and response["ETag"] == etag
    assert not cache_dir.exists()
    assert reader_client.get(thumb(images["a"]), HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_a_different_window_is_a_different_cached_file_and_etag(reader_client, images, cache_dir):
    url = reverse("datasets:rendition", args=[images["rg1"].pk, "viewer"])
    default = reader_client.get(url)
    lung = reader_client.get(url, {"preset": "lung"})
    custom = reader_client.get(url, {"wc": "20000", "ww": "8000"})
    etags = {default["ETag"], lung["ETag"], custom["ETag"]}
    assert len(etags) == 3
    pictures = [np.asarray(as_picture(r), dtype=float) for r in (default, lung, custom)]
    assert pictures[0].shape == (1024, 964)
    assert np.abs(pictures[0] - pictures[1]).mean() > 10
    assert np.abs(pictures[0] - pictures[2]).mean() > 10
    assert len(list(cache_dir.rglob("*.jpg"))) == 3


def test_the_original_is_served_at_full_size_as_png(reader_client, images):
    response = reader_client.get(reverse("datasets:rendition", args=[images["rg1"].pk, "original"]))
    assert response.streaming  # megabytes: streamed from the file, not read into memory
    assert response["Content-Type"] == "image/png"
    assert as_picture(response).size == (1841, 1955)


@pytest.mark.parametrize(
    "query",
    [
        {"preset": "brain"},
        {"wc": "1"},
        {"wc": "x", "ww": "1"},
        {"wc": "1", "ww": "0"},
        {"wc": "nan", "ww": "5"},
        {"wc": "1e30", "ww": "1"},
    ],
)
def test_bad_window_parameters_are_refused(reader_client, images, query):
    url = reverse("datasets:rendition", args=[images["rg1"].pk, "viewer"])
    assert reader_client.get(url, query).status_code == 400


def test_an_unknown_size_is_404(reader_client, images):
    assert (
        reader_client.get(
            reverse("datasets:rendition", args=[images["rg1"].pk, "huge"])
        ).status_code
        == 404
    )


def test_x_accel_redirect_hands_the_file_to_the_front_server(
    reader_client, images, settings, cache_dir
):
    settings.IMAGE_ACCEL_REDIRECT_PREFIX = "/_renditions/"
    response = reader_client.get(thumb(images["a"]))
    target = response["X-Accel-Redirect"]
    assert target.startswith("/_renditions/") and response.content == b""
    assert (cache_dir / target.removeprefix("/_renditions/")).is_file()
    assert response["Content-Type"] == "image/jpeg" and response["ETag"]


# --- unreadable files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "reason"), [("notes", "not a PNG, JPEG or DICOM file"), ("cut", "truncated PNG file")]
)
def test_an_unreadable_file_gives_a_placeholder_and_records_the_reason(
    reader_client, images, key, reason, monkeypatch
):
    response = reader_client.get(thumb(images[key]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert f"unreadable: {reason}" in response.content.decode()
    images[key].refresh_from_db()
    assert images[key].unreadable_reason == reason
    # recorded: the next request does not decode again
    import datasets.renditions

    monkeypatch.setattr(datasets.renditions, "decode", lambda *a, **k: pytest.fail("decoded again"))
    assert reason in reader_client.get(thumb(images[key])).content.decode()


def test_the_viewer_says_why_an_image_is_unreadable(reader_client, images):
    response = reader_client.get(
        reverse("datasets:viewer", args=[images["notes"].pk]), HTTP_HX_REQUEST="true"
    )
    assert "unreadable: not a PNG, JPEG or DICOM file" in response.content.decode()


def test_a_missing_file_is_shown_but_not_recorded(reader_client, images, dataset_root):
    (dataset_root / "images_001" / "a.png").unlink()
    response = reader_client.get(thumb(images["a"]))
    assert "unreadable: file not found" in response.content.decode()
    assert response["Cache-Control"] == "private, no-store"
    images["a"].refresh_from_db()
    assert images["a"].unreadable_reason == ""  # a missing mount must not condemn the image


# --- traversal -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "../outside.png",
        "images_001/../../outside.png",
        "%2e%2e/outside.png",
        "/etc/passwd",
        "link/outside.png",
        "escape.png",
    ],
)
def test_paths_leaving_the_dataset_root_are_refused(
    reader_client, dataset, audit, dataset_root, tmp_path, path
):
    outside = tmp_path / "outside.png"
    write_png(outside, np.full((20, 20), 200, np.uint8))
    (dataset_root / "link").symlink_to(tmp_path, target_is_directory=True)
    (dataset_root / "escape.png").symlink_to(outside)
    if path.startswith("%2e"):  # an encoded path is a literal name here, and no such file exists
        path = path.replace("%2e%2e", "..")
    image = Image.objects.create(dataset=dataset, key="evil", path=path)
    Sample.objects.create(
        audit=audit, label=Label.objects.get(dataset=dataset), image=image, position=99
    )
    response = reader_client.get(thumb(image))
    assert response["Content-Type"] == "image/svg+xml"
    assert "unreadable: path outside the dataset root" in response.content.decode()


def test_an_encoded_traversal_in_the_url_does_not_resolve(reader_client, images):
    for url in (
        "/images/..%2F..%2Fetc%2Fpasswd/thumbnail/",
        "/images/%2e%2e/thumbnail/",
        "/images/1/render/..%2F..%2F/",
    ):
        assert reader_client.get(url).status_code == 404


# --- no patient identifiers ----------------------------------------------------------------


def test_no_dicom_identifier_reaches_any_response(reader_client, images, caplog):
    image = images["ct"]
    caplog.set_level("DEBUG")
    bodies = []
    for url in (
        thumb(image),
        reverse("datasets:viewer", args=[image.pk]),
        reverse("datasets:rendition", args=[image.pk, "viewer"]),
        reverse("datasets:rendition", args=[image.pk, "original"]),
    ):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = reader_client.get(url, **headers)
            assert response.status_code == 200
            body = body_of(response)
            bodies.append(body + str(response.headers).encode())
    viewer = reader_client.get(
        reverse("datasets:viewer", args=[image.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "ct-key" in viewer and "<dd>CT</dd>" in viewer  # the dataset's key and technical tags
    for secret in ("canary", "zebediah", CANARY_ID.lower()):
        assert all(secret.encode() not in body.lower() for body in bodies), secret
        assert secret not in caplog.text.lower()


def test_the_viewer_fragment_has_presets_only_for_dicom(reader_client, images):
    dicom = reader_client.get(
        reverse("datasets:viewer", args=[images["rg1"].pk]), HTTP_HX_REQUEST="true"
    )
    png = reader_client.get(
        reverse("datasets:viewer", args=[images["a"].pk]), HTTP_HX_REQUEST="true"
    )
    text = dicom.content.decode()
    for preset in ("default", "lung", "mediastinum", "bone"):
        assert f'data-preset="{preset}"' in text
    assert "<html" not in text and "{#" not in text  # a fragment for the dialog
    assert 'data-preset="lung"' not in png.content.decode()
    page = reader_client.get(reverse("datasets:viewer", args=[images["rg1"].pk]))
    assert "<html" in page.content.decode() and "viewer.js" in page.content.decode()
