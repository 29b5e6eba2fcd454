"""An admin invites a reader in Chromium; the reader opens the link from the mail, sets a
password, lands on the audit and marks a tile. No page breaks the Content Security Policy."""

import re

from playwright.sync_api import expect

from annotation.models import Mark, Membership
from tests.annotation.conftest import first_grid

LINK = re.compile(r"https?://\S+/invite/\S+/")


def _watch_csp(page, violations):
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )


def test_an_invited_reader_sets_a_password_lands_on_the_audit_and_marks(
    login, new_page, admin_user, audit, mailoutbox, django_user_model
):
    violations: list[str] = []
    admin = login(admin_user)
    _watch_csp(admin, violations)
    admin.goto(f"/audits/{audit.pk}/")
    admin.click("#people-link")
    expect(admin.locator("h1")).to_have_text(f"People of {audit.name}")
    admin.fill("input[name=email]", "dora@example.org")
    admin.select_option("select[name=role]", "reader")
    with admin.expect_navigation():
        admin.click("#invite-form button[type=submit]")
    expect(admin.locator(".messages")).to_contain_text("Invitation sent to dora@example.org")
    expect(admin.locator("#invitations tr.invitation-pending")).to_contain_text("dora@example.org")

    assert len(mailoutbox) == 1
    link = LINK.search(mailoutbox[0].body).group(0)

    dora = new_page()
    _watch_csp(dora, violations)
    dora.goto(link)
    expect(dora.locator("h1")).to_have_text(f"Join {audit.name}")
    dora.fill("input[name=username]", "dora")
    dora.fill("input[name=name]", "Dora Reader")
    dora.fill("input[name=password1]", "amber-quartz-meadow-71")
    dora.fill("input[name=password2]", "amber-quartz-meadow-71")
    with dora.expect_navigation():
        dora.click("#create-account")
    assert dora.url.endswith(f"/audits/{audit.pk}/")
    expect(dora.locator(".messages")).to_contain_text("Welcome, dora")
    expect(dora.locator("h1")).to_have_text(audit.name)

    label, samples = first_grid(audit)
    dora.click(f"a[href='/audits/{audit.pk}/labels/{label.pk}/grids/1/']")
    first = dora.locator(f'.tile[data-sample-id="{samples[0].pk}"]')
    first.locator("button.v-green").click()
    expect(first).to_have_attribute("data-verdict", "green")
    expect(first).to_have_attribute("data-saved", "true")

    user = django_user_model.objects.get(username="dora")
    assert user.email == "dora@example.org"
    assert Membership.objects.filter(audit=audit, user=user, role="reader").count() == 1
    assert Mark.objects.get(reader=user).verdict == "green"

    # The link is spent: opening it again says so, and creates nothing.
    again = new_page()
    again.goto(link)
    expect(again.locator(".invitation-unusable")).to_contain_text("already been used")
    assert django_user_model.objects.filter(email="dora@example.org").count() == 1
    assert not violations, violations
