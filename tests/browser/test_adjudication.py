"""An adjudicator in a real Chromium: from the audit page to the queue, reading the readers'
verdicts and notes on a tile, deciding with the keyboard, and finding the decision after reload."""

from playwright.sync_api import expect

from annotation.models import Adjudication, Membership
from annotation.services import mark_set


def test_an_adjudicator_works_through_the_queue_with_the_keyboard(
    login, audit, reader, other_reader, django_user_model, password
):
    first, second = audit.samples.order_by("label__name", "position")[:2]
    for sample, (alice, bob) in ((first, ("green", "red")), (second, ("orange", "red"))):
        mark_set(sample=sample, reader=reader, idempotency_key=f"a{sample.pk}", verdict=alice,
                 note="fine to me" if sample == first else "")  # fmt: skip
        mark_set(sample=sample, reader=other_reader, idempotency_key=f"b{sample.pk}", verdict=bob)
    judge = django_user_model.objects.create_user("judith", password=password)
    Membership.objects.create(audit=audit, user=judge, role=Membership.Role.ADJUDICATOR)

    page = login(judge)
    page.goto(f"/audits/{audit.pk}/")
    page.click("text=Adjudication queue")
    expect(page.locator("#queue-counts")).to_contain_text("2 tiles in the queue")
    page.click("text=Adjudicate the next pending grid")
    tile = page.locator(f'.tile[data-sample-id="{first.pk}"]')
    expect(tile.locator(".reads")).to_contain_text("alice")
    expect(tile.locator(".reads")).to_contain_text("fine to me")
    expect(tile.locator(".reads")).to_contain_text("bob")
    expect(page.locator(".tile.current")).to_have_count(1)  # the grid's script is running
    page.keyboard.press("3")
    expect(tile).to_have_attribute("data-verdict", "red")
    expect(tile).to_have_attribute("data-saved", "true")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("g")
    second_tile = page.locator(f'.tile[data-sample-id="{second.pk}"]')
    expect(second_tile).to_have_attribute("data-verdict", "green")
    expect(second_tile).to_have_attribute("data-saved", "true")
    expect(page.locator("#marked-count")).to_have_text("2")
    page.reload()
    expect(tile).to_have_attribute("data-verdict", "red")
    expect(tile.locator(".decided")).to_contain_text("red by judith")
    decisions = dict(Adjudication.objects.values_list("sample_id", "verdict"))
    assert decisions == {first.pk: "red", second.pk: "green"}
