"""A maintainer in a real Chromium: from the audit page to the relabeled export, reading what
each rule would change, and downloading the file."""

import csv
import io

from playwright.sync_api import expect

from annotation.services import mark_set


def test_a_maintainer_previews_the_rules_and_downloads_the_relabeled_file(
    login, audit, reader, other_reader, maintainer
):
    sample = audit.samples.select_related("image", "label").order_by("label__name", "position")[0]
    for user in (reader, other_reader):
        mark_set(sample=sample, reader=user, idempotency_key=f"k{user.pk}", verdict="red")
    page = login(maintainer)
    page.goto(f"/audits/{audit.pk}/")
    page.click("text=Relabeled export")
    row = page.locator("#preview tr", has_text=sample.label.name)
    expect(row).to_contain_text("1")
    page.check("input[value=unanimous]")
    with page.expect_download() as caught:
        page.click("text=Download CSV")
    download = caught.value
    assert "relabeled-unanimous" in download.suggested_filename
    with open(download.path(), newline="") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    changed = [r for r in rows if r["relabel_status"] == "changed"]
    assert [r["Image Index"] for r in changed] == [sample.image.key]
    assert sample.label.name not in changed[0]["Finding Labels"].split("|")
