"""A reader at the grid, in a real Chromium: keys, mouse, tags, the viewer, reload, blinding."""

from playwright.sync_api import expect

from annotation.models import Mark
from tests.annotation.conftest import first_grid


def grid_url(audit, label, number=1):
    return f"/audits/{audit.pk}/labels/{label.pk}/grids/{number}/"


def tile(page, sample):
    return page.locator(f'.tile[data-sample-id="{sample.pk}"]')


def saved(page, sample, verdict):
    """Wait until the tile shows `verdict` and the server has it."""
    locator = tile(page, sample)
    expect(locator).to_have_attribute("data-verdict", verdict)
    expect(locator).to_have_attribute("data-saved", "true")


def test_a_reader_marks_with_the_keyboard_and_sees_it_after_reload(logged_in_page, audit, reader):
    page = logged_in_page
    label, samples = first_grid(audit)
    page.goto(grid_url(audit, label))
    expect(page.locator("h1.grid-label")).to_have_text(label.name)
    page.keyboard.press("1")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("o")
    page.keyboard.press("l")
    page.keyboard.press("3")
    saved(page, samples[0], "green")
    saved(page, samples[1], "orange")
    saved(page, samples[2], "red")
    page.reload()
    for sample, verdict in zip(samples[:3], ["green", "orange", "red"], strict=True):
        expect(tile(page, sample)).to_have_attribute("data-verdict", verdict)
    expect(tile(page, samples[3])).to_have_attribute("data-verdict", "")
    assert dict(Mark.objects.filter(reader=reader).values_list("sample_id", "verdict")) == {
        samples[0].pk: "green",
        samples[1].pk: "orange",
        samples[2].pk: "red",
    }
