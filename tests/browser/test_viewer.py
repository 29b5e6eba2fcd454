"""The viewer in a real Chromium: opened from the grid with the keyboard, zoom, window presets
and free window/level on the real DICOM radiograph, rendered by the server."""

import shutil

import pytest
from playwright.sync_api import expect

from annotation.models import Audit, Membership, Sample
from datasets.models import Dataset, Image, Label
from tests.annotation.conftest import first_grid
from tests.conftest import SHARED_DATA


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, settings):
    settings.IMAGE_CACHE_ROOT = tmp_path / "cache"
    return settings.IMAGE_CACHE_ROOT


def image_loaded(page, selector=".viewer-image"):
    page.wait_for_function(
        f"() => {{ const i = document.querySelector('{selector}'); return i && i.complete && i.naturalWidth > 0; }}"
    )


def test_a_reader_opens_a_tile_in_the_viewer_and_zooms(login, page, reader, audit):
    label, samples = first_grid(audit)
    login(reader, page)
    page.goto(f"/audits/{audit.pk}/labels/{label.pk}/grids/1/")
    page.keyboard.press("Enter")
    stage = page.locator("#viewer .viewer-stage")
    expect(stage).to_be_visible()
    expect(stage.locator(".viewer-key")).to_have_text(samples[0].image.key)
    image_loaded(page)
    expect(stage).to_have_attribute("data-zoom", "1.000")
    page.keyboard.press("+")
    page.keyboard.press("+")
    expect(stage).to_have_attribute("data-zoom", "1.563")
    transform = page.eval_on_selector(".viewer-image", "i => i.style.transform")
    assert "scale(1.5625)" in transform
    page.keyboard.press("*")
    expect(stage).to_have_attribute("data-zoom", "1.000")
    # an 8-bit PNG: no window presets to offer
    expect(stage.locator("[data-preset]")).to_have_count(0)


@pytest.fixture
def radiograph(dataset_root, reader):
    shutil.copy(SHARED_DATA / "RG1_J2KI.dcm", dataset_root / "rg1.dcm")
    dataset = Dataset.objects.create(
        name="NEMA", slug="nema", format="generic", root=str(dataset_root)
    )
    image = Image.objects.create(
        dataset=dataset, key="RG1 (NEMA WG04)", path="rg1.dcm", file_found=True
    )
    audit = Audit.objects.create(dataset=dataset, name="A", status=Audit.Status.READY)
    label = Label.objects.create(dataset=dataset, name="Effusion")
    Sample.objects.create(audit=audit, label=label, image=image, position=0)
    Membership.objects.create(audit=audit, user=reader, role="reader")
    return image


def test_window_presets_and_free_window_level_on_the_real_radiograph(
    login, page, reader, radiograph
):
    login(reader, page)
    page.goto(f"/images/{radiograph.pk}/viewer/")
    image_loaded(page)
    readout = page.locator(".viewer-window")
    expect(readout).to_contain_text("default")
    page.click('button[data-preset="lung"]')
    expect(page.locator('button[data-preset="lung"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".viewer-image")).to_have_attribute(
        "src", f"/images/{radiograph.pk}/render/viewer/?preset=lung"
    )
    image_loaded(page)
    expect(readout).to_contain_text("lung")
    # shift-drag: a free window, previewed at once, then rendered by the server
    box = page.locator(".viewer-canvas").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.keyboard.down("Shift")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 120, y + 60, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    expect(readout).to_contain_text("custom")
    expect(page.locator(".viewer-image")).to_have_attribute("src", _contains("wc="))
    image_loaded(page)
    src = page.get_attribute(".viewer-image", "src")
    response = page.request.get(src)
    assert response.status == 200 and response.headers["content-type"] == "image/jpeg"
    # technical tags only
    page.click(".viewer-tags summary")
    tags = page.locator(".viewer-tags").inner_text()
    assert "MONOCHROME1" in tags and "JPEG 2000" in tags
    text = page.content()
    assert "CompressedSamples" not in text and "9RG1" not in text  # patient name and id


def _contains(fragment):
    import re

    return re.compile(re.escape(fragment))
