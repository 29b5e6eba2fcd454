"""The report in a real Chromium: a researcher finds it from the audit page, reads the figures,
sorts, switches tabs, downloads; a maintainer enters a claim and sees it flagged."""

import re

import pytest
from playwright.sync_api import expect

from annotation.models import Membership, Sample
from annotation.services import mark_set


@pytest.fixture(autouse=True)
def embedded_mode(settings):
    """The report computes its first snapshot when viewed (embedded mode), whatever the broker:
    these tests are about what a person sees; tests/reports/test_worker.py covers the worker."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


def mark_everything(audit, readers, red_below=9):
    """Every tile: the first reader green, the second red on positions < red_below."""
    for sample in Sample.objects.filter(audit=audit):
        for index, user in enumerate(readers):
            verdict = "red" if index == 1 and sample.position < red_below else "green"
            mark_set(sample=sample, reader=user, idempotency_key=f"{sample.pk}-{user.pk}",
                     verdict=verdict)  # fmt: skip


def test_a_researcher_reads_sorts_and_downloads_the_report(
    login, audit, reader, other_reader, django_user_model, password
):
    mark_everything(audit, [reader, other_reader])
    researcher = django_user_model.objects.create_user("rita", password=password)
    Membership.objects.create(audit=audit, user=researcher, role=Membership.Role.RESEARCHER)
    page = login(researcher)
    page.goto(f"/audits/{audit.pk}/")
    page.get_by_role("link", name="accuracy by label").click()
    expect(page.get_by_role("heading", name=f"Report: {audit.name}")).to_be_visible()
    # Two readers: positions 0-8 green vs red tie -> orange, so consensus accuracy is 100% and
    # strict accuracy 27/36 = 75.0% for both labels.
    row = page.locator('#labels-table tr[data-label="Infiltration"]')
    expect(row.locator("td.accuracy")).to_contain_text("100.0%")
    expect(row).to_contain_text("75.0%")
    expect(page.locator("svg.forest")).to_be_visible()
    expect(page.locator(".report-status")).to_contain_text("Figures as of")

    # The heading's name gains an arrow once sorted (▲/▼), hence the prefix match.
    heading = page.locator("#labels-table thead").get_by_role("link", name=re.compile("^Label"))
    heading.click()
    expect(heading).to_have_attribute("aria-sort", "ascending")
    first = page.locator("#labels-table tbody tr").first
    expect(first).to_have_attribute("data-label", "Infiltration")
    heading.click()
    expect(heading).to_have_attribute("aria-sort", "descending")
    expect(page.locator("#labels-table tbody tr").first).to_have_attribute(
        "data-label", "No Finding"
    )

    page.get_by_role("link", name="Agreement", exact=True).click()
    expect(page.locator("svg.heatmap")).to_be_visible()
    expect(page.locator("#pairs-table")).to_contain_text("alice · bob")

    with page.expect_download() as download:
        page.get_by_role("link", name="CSV", exact=True).click()
    with open(download.value.path(), encoding="utf-8") as handle:
        text = handle.read()
    assert text.startswith("label,reader,scale,statistic")


def test_a_maintainer_enters_a_claim_and_the_report_flags_it(
    login, audit, reader, other_reader, maintainer
):
    mark_everything(audit, [reader, other_reader], red_below=0)  # all green: accuracy 100%
    page = login(maintainer)
    page.goto(f"/audits/{audit.pk}/report/")
    page.get_by_role("link", name="Enter the paper's claimed accuracy").click()
    page.get_by_label("Infiltration").fill("62%")
    page.get_by_role("button", name="Save claims").click()
    expect(page.locator(".messages")).to_contain_text("1 label(s) changed")
    page.goto(f"/audits/{audit.pk}/report/")
    row = page.locator('#labels-table tr[data-label="Infiltration"]')
    expect(row).to_have_class("flagged")
    expect(row).to_contain_text("62.0%")
    expect(row.locator("td.difference")).to_contain_text("+38.0 pts")


def test_a_reader_of_a_blinded_audit_finds_no_report(logged_in_page, audit):
    page = logged_in_page
    page.goto(f"/audits/{audit.pk}/")
    expect(page.get_by_role("link", name="accuracy by label")).to_have_count(0)
    response = page.goto(f"/audits/{audit.pk}/report/")
    assert response.status == 404
