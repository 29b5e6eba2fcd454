"""A reader at the grid, in a real Chromium at 1920 x 1080: keys, mouse, tags, notes, the
viewer, failed saves, reloads, the reader's home, and blinding between two readers."""

import re
import time

from playwright.sync_api import expect

from annotation.models import GridVisit, Mark, MarkChange
from annotation.services import mark_set
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


def verdicts(reader):
    return dict(Mark.objects.filter(reader=reader).values_list("sample_id", "verdict"))


def open_grid(page, audit, number=1):
    label, samples = first_grid(audit)
    page.goto(grid_url(audit, label, number))
    expect(page.locator(".tile")).to_have_count(18)
    return label, samples


def test_a_reader_marks_with_the_keyboard_and_sees_it_after_reload(logged_in_page, audit, reader):
    page = logged_in_page
    label, samples = open_grid(page, audit)
    expect(page.locator("h1.grid-label")).to_have_text(label.name)
    page.keyboard.press("1")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("o")
    page.keyboard.press("l")
    page.keyboard.press("3")
    page.keyboard.press("ArrowDown")  # one row down: tile 2 + 6
    page.keyboard.press("r")
    page.keyboard.press("k")
    page.keyboard.press("h")  # back on tile 1 (the second)
    page.keyboard.press("Backspace")
    saved(page, samples[0], "green")
    saved(page, samples[1], "")
    saved(page, samples[2], "red")
    saved(page, samples[8], "red")
    expect(page.locator("#marked-count")).to_have_text("3")
    page.reload()
    for index, verdict in [(0, "green"), (1, ""), (2, "red"), (8, "red"), (3, "")]:
        expect(tile(page, samples[index])).to_have_attribute("data-verdict", verdict)
    assert verdicts(reader) == {
        samples[0].pk: "green",
        samples[1].pk: "",
        samples[2].pk: "red",
        samples[8].pk: "red",
    }
    # orange then cleared: the history has both changes.
    assert list(
        MarkChange.objects.filter(sample=samples[1]).values_list("old_verdict", "new_verdict")
    ) == [("", "orange"), ("orange", "")]


def test_clicking_a_tile_cycles_green_orange_red_none_and_the_buttons_set_a_verdict(
    logged_in_page, audit, reader
):
    page = logged_in_page
    _, samples = open_grid(page, audit)
    image = tile(page, samples[4]).locator("button.tile-image")
    for verdict in ["green", "orange", "red", ""]:
        image.click()
        saved(page, samples[4], verdict)
    tile(page, samples[5]).locator("button.v-orange").click()
    saved(page, samples[5], "orange")
    expect(tile(page, samples[5]).locator("button.v-orange")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.reload()
    expect(tile(page, samples[5])).to_have_attribute("data-verdict", "orange")
    assert verdicts(reader) == {samples[4].pk: "", samples[5].pk: "orange"}


def test_a_tag_shortcut_toggles_the_tag_on_the_focused_tile_and_a_note_is_kept(
    logged_in_page, audit, reader
):
    page = logged_in_page
    _, samples = open_grid(page, audit)
    drain = audit.tags.get(name="chest drain")
    page.keyboard.press("l")
    page.keyboard.press("d")  # chest drain on the second tile
    box = tile(page, samples[1]).locator(f'input[name="tags"][value="{drain.pk}"]')
    expect(box).to_be_checked()
    expect(tile(page, samples[1])).to_have_attribute("data-saved", "true")
    note = tile(page, samples[1]).locator("input.note")
    note.fill("drain in the right apex")
    note.press("Enter")
    expect(tile(page, samples[1])).to_have_attribute("data-saved", "true")
    expect(tile(page, samples[1]).locator("input.note")).to_have_value("drain in the right apex")
    page.reload()
    expect(tile(page, samples[1]).locator(f'input[value="{drain.pk}"]')).to_be_checked()
    expect(tile(page, samples[1]).locator(".tile-tags")).to_have_text("chest drain")
    expect(tile(page, samples[1]).locator("input.note")).to_have_value("drain in the right apex")
    mark = Mark.objects.get(sample=samples[1], reader=reader)
    assert ([tag.name for tag in mark.tags.all()], mark.note, mark.verdict) == (
        ["chest drain"],
        "drain in the right apex",
        "",
    )
    # The same shortcut again takes the tag off.
    tile(page, samples[1]).click(position={"x": 40, "y": 40})  # also cycles it to green
    page.keyboard.press("d")
    expect(tile(page, samples[1]).locator(f'input[value="{drain.pk}"]')).not_to_be_checked()
    saved(page, samples[1], "green")
    expect(tile(page, samples[1]).locator(f'input[value="{drain.pk}"]')).not_to_be_checked()
    assert not Mark.objects.get(sample=samples[1], reader=reader).tags.exists()


def test_shift_g_marks_every_unmarked_tile_green_and_keeps_the_others(
    logged_in_page, audit, reader
):
    page = logged_in_page
    _, samples = open_grid(page, audit)
    page.keyboard.press("3")
    saved(page, samples[0], "red")
    page.keyboard.press("Shift+G")
    for sample in samples[1:]:
        saved(page, sample, "green")
    saved(page, samples[0], "red")
    expect(page.locator("#marked-count")).to_have_text("18")
    assert sorted(verdicts(reader).values()) == ["green"] * 17 + ["red"]


def test_the_grid_fits_a_1920_by_1080_screen_and_verdicts_are_frames_around_the_image(
    logged_in_page, audit, reader
):
    page = logged_in_page
    _, samples = open_grid(page, audit)
    mark_set(sample=samples[0], reader=reader, idempotency_key="a", verdict="green")
    mark_set(sample=samples[1], reader=reader, idempotency_key="b", verdict="orange")
    mark_set(sample=samples[2], reader=reader, idempotency_key="c", verdict="red")
    page.reload()
    expect(page.locator(".tile img").first).to_be_visible()
    size = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight,"
        " innerWidth, innerHeight]"
    )
    assert size[0] <= size[2] and size[1] <= size[3], f"the page scrolls: {size}"
    boxes = [box.bounding_box() for box in page.locator(".tile").all()]
    assert len({round(box["y"]) for box in boxes}) == 3  # 3 rows
    assert len({round(box["x"]) for box in boxes}) == 6  # of 6
    assert all(
        box["y"] + box["height"] <= 1080 and box["x"] + box["width"] <= 1920 for box in boxes
    )
    assert min(box["height"] for box in boxes) > 250  # big enough to read
    frames = {}
    for index, verdict in [(0, "green"), (1, "orange"), (2, "red"), (3, "none")]:
        element = tile(page, samples[index])
        style = element.evaluate(
            "t => { const s = getComputedStyle(t); return [s.borderTopColor, s.borderTopWidth] }"
        )
        frames[verdict] = style[0]
        assert float(style[1].removesuffix("px")) >= 4
        # The image sits inside the frame: nothing is drawn over it.
        outer = element.bounding_box()
        inner = element.locator("img").bounding_box()
        assert inner["x"] >= outer["x"] + 4 and inner["y"] >= outer["y"] + 4
        assert inner["x"] + inner["width"] <= outer["x"] + outer["width"] - 4
    assert len(set(frames.values())) == 4, frames


def test_enter_opens_the_viewer_in_a_dialog_where_grid_keys_do_not_mark(
    logged_in_page, audit, reader
):
    page = logged_in_page
    _, samples = open_grid(page, audit)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    dialog = page.locator("dialog#viewer")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".viewer-key")).to_have_text(samples[1].image.key)
    expect(dialog.locator("img").first).to_be_visible()
    image = dialog.locator("img").first
    expect(image).to_have_js_property("complete", True)
    assert image.evaluate("img => img.naturalWidth") > 0  # the picture arrived
    for key in ["1", "g", "3", "Backspace", "ArrowRight", "d", "Shift+G", "n"]:
        page.keyboard.press(key)
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert not Mark.objects.exists()
    assert page.url.endswith("/grids/1/")
    # Back on the grid, on the same tile: keys mark again. Space opens, Space closes.
    page.keyboard.press("2")
    saved(page, samples[1], "orange")
    page.keyboard.press(" ")
    expect(dialog).to_be_visible()
    page.keyboard.press(" ")
    expect(dialog).to_be_hidden()
    assert verdicts(reader) == {samples[1].pk: "orange"}


def test_the_open_button_opens_the_viewer_and_question_mark_lists_the_keys(logged_in_page, audit):
    page = logged_in_page
    _, samples = open_grid(page, audit)
    tile(page, samples[7]).locator("a.open").click()
    expect(page.locator("dialog#viewer")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    keys = page.locator("dialog#keys")
    expect(keys).to_be_visible()
    expect(keys).to_contain_text("every unmarked tile green")
    expect(keys).to_contain_text("tag: chest drain")
    page.keyboard.press("1")  # not a mark while the list is open
    page.keyboard.press("?")
    expect(keys).to_be_hidden()
    assert not Mark.objects.exists()


def test_a_failed_save_says_so_on_the_tile_and_is_retried_until_saved(
    logged_in_page, audit, reader
):
    page = logged_in_page
    _, samples = open_grid(page, audit)
    failures = []

    def flaky(route):
        if len(failures) < 2:
            failures.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/samples/*/mark/", flaky)
    page.keyboard.press("g")
    expect(tile(page, samples[0])).to_have_class(re.compile(r"\bfailed\b"))
    expect(tile(page, samples[0])).to_have_attribute("data-saved", "false")
    saved(page, samples[0], "green")
    expect(tile(page, samples[0])).not_to_have_class(re.compile(r"\bfailed\b"))
    assert len(failures) == 2
    assert verdicts(reader) == {samples[0].pk: "green"}
    assert MarkChange.objects.count() == 1


def test_n_and_p_move_between_grids_after_saving(logged_in_page, audit, reader):
    page = logged_in_page
    label, samples = open_grid(page, audit)
    page.keyboard.press("1")
    page.wait_for_timeout(300)  # a moment on the grid
    page.keyboard.press("n")
    page.wait_for_url(re.compile(rf"/labels/{label.pk}/grids/2/$"))
    expect(page.locator(".grid-where")).to_contain_text("grid 2 of 2")
    # Leaving the first grid reported the time spent on it.
    deadline = time.monotonic() + 5
    while not GridVisit.objects.filter(reader=reader, label=label, grid=0).exists():
        assert time.monotonic() < deadline, "no time recorded for the first grid"
        time.sleep(0.1)
    assert 0.3 <= GridVisit.objects.get(reader=reader, grid=0).seconds < 60
    page.keyboard.press("p")
    page.wait_for_url(re.compile(rf"/labels/{label.pk}/grids/1/$"))
    expect(tile(page, samples[0])).to_have_attribute("data-verdict", "green")


def test_the_home_page_shows_progress_and_continues_where_the_reader_stopped(
    logged_in_page, audit, reader
):
    page = logged_in_page
    label, samples = first_grid(audit)
    for sample in samples:
        mark_set(sample=sample, reader=reader, idempotency_key=f"k{sample.pk}", verdict="green")
    later = audit.samples.get(label=label, position=20)
    mark_set(sample=later, reader=reader, idempotency_key="later", verdict="red")
    page.goto("/")
    card = page.locator(".audit-card", has_text=audit.name)
    expect(card.locator("progress")).to_have_attribute("value", "19")
    expect(card.locator("progress")).to_have_attribute("max", "72")
    expect(card).to_contain_text("19 of 72 tiles")
    expect(card).to_contain_text("1 of 4 grids")
    row = card.locator("tr", has_text=label.name)
    expect(row.locator("td").nth(1)).to_have_text("1")  # grids done
    expect(row.locator("td").nth(2)).to_have_text("1")  # left
    card.get_by_role("link", name="Continue where I stopped").click()
    page.wait_for_url(re.compile(rf"/labels/{label.pk}/grids/2/$"))
    expect(tile(page, later)).to_have_attribute("data-verdict", "red")


def test_a_second_reader_of_a_blinded_audit_sees_none_of_the_first_readers_marks(
    login, audit, reader, other_reader
):
    alice = login(reader)
    label, samples = open_grid(alice, audit)
    alice.keyboard.press("1")
    alice.keyboard.press("l")
    alice.keyboard.press("3")
    alice.keyboard.press("d")
    saved(alice, samples[0], "green")
    saved(alice, samples[1], "red")
    expect(tile(alice, samples[1]).locator(".tile-tags")).to_have_text("chest drain")
    bob = login(other_reader)
    open_grid(bob, audit)
    for sample in samples:
        expect(tile(bob, sample)).to_have_attribute("data-verdict", "")
    expect(bob.locator(".tile-tags, .tile-others, .tile input[name=tags]:checked")).to_have_count(0)
    expect(bob.locator("#marked-count")).to_have_text("0")
    bob.goto("/")
    expect(bob.locator(".audit-card", has_text=audit.name)).to_contain_text("0 of 72 tiles")
    # And bob's own mark does not show on alice's grid.
    bob.goto(grid_url(audit, label))
    bob.keyboard.press("2")
    saved(bob, samples[0], "orange")
    alice.reload()
    expect(tile(alice, samples[0])).to_have_attribute("data-verdict", "green")
    expect(alice.locator(".tile-others")).to_have_count(0)
