"""Creating an audit in the app and watching its sample set being built, in a real Chromium."""

import re

from playwright.sync_api import expect
from statsmodels.stats.proportion import proportion_confint

from annotation.models import Audit
from annotation.services import build_sample_set, create_audit
from datasets.models import Label


def test_an_admin_creates_an_audit_in_the_form_and_lands_on_its_built_grids(
    login, admin_user, reader, small_dataset, task_runner
):
    page = login(admin_user)
    page.goto("/audits/new/")
    page.select_option("select[name=dataset]", label=str(small_dataset))
    page.fill("input[name=name]", "Effusion check")
    page.get_by_label(re.compile(r": Effusion$")).check()
    hint = page.locator("#sample-size-hint")
    expect(hint).to_contain_text("126 images per label")
    page.fill("input[name=per_label]", "12")
    # The hint follows the number typed: the Wilson half-width for n = 12, by statsmodels.
    low, high = proportion_confint(6, 12, alpha=0.05, method="wilson")
    expect(hint).to_contain_text("With 12 images per label")
    expect(hint).to_contain_text(f"±{100 * (high - low) / 2:.1f} points at 50%")
    page.fill("input[name=grid_size]", "6")
    page.fill("input[name=seed]", "11")
    page.fill("input[name=readers]", reader.username)
    page.get_by_role("button", name=re.compile("Create the audit")).click()
    page.wait_for_url(re.compile(r"/audits/\d+/$"))
    audit = Audit.objects.get(name="Effusion check")
    assert (audit.per_label, audit.grid_size, audit.seed, audit.blinded) == (12, 6, 11, True)
    assert list(audit.memberships.values_list("user__username", "role")) == [("alice", "reader")]
    # Built eagerly before the page was drawn, or by the worker while the page polls.
    expect(page.locator("#build")).to_contain_text("ready for reading", timeout=30_000)
    row = page.locator("tr", has_text="Effusion")
    expect(row.locator("a")).to_have_count(2)  # 12 images in grids of 6
    assert audit.samples.count() == 12


def test_the_audit_page_shows_the_build_progress_and_then_its_grids(
    login, admin_user, small_dataset
):
    audit = create_audit(
        dataset=small_dataset,
        name="Watched build",
        labels=list(Label.objects.filter(dataset=small_dataset, name__in=["Effusion", "Mass"])),
        per_label=18,
        one_per_patient=False,
        build=False,
    )
    Audit.objects.filter(pk=audit.pk).update(
        status=Audit.Status.BUILDING, build_done=1, build_total=2
    )
    page = login(admin_user)
    page.goto(f"/audits/{audit.pk}/")
    build = page.locator("#build")
    expect(build).to_contain_text("labels drawn 1 of 2")
    expect(build.locator("progress")).to_have_attribute("value", "1")
    expect(page.locator("table")).to_have_count(0)
    build_sample_set(audit=audit)  # the worker finishes: the polling page reloads itself
    expect(build).to_contain_text("ready for reading", timeout=5000)
    expect(page.locator("tr", has_text="Effusion")).to_be_visible()
    expect(page.locator("tr", has_text="Mass")).to_be_visible()


def test_a_failed_build_is_shown_with_its_reason(login, admin_user, small_dataset):
    audit = create_audit(dataset=small_dataset, name="Broken", build=False)
    Audit.objects.filter(pk=audit.pk).update(
        status=Audit.Status.FAILED, build_error="OperationalError: the database went away"
    )
    page = login(admin_user)
    page.goto(f"/audits/{audit.pk}/")
    expect(page.locator("#build")).to_contain_text("sample set failed")
    expect(page.locator("#build .error")).to_have_text("OperationalError: the database went away")
