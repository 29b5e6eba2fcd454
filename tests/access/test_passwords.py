"""Password change and reset: a mailed one-time link; never a new account."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

NEW = "violet-harbour-compass-64"


@pytest.mark.django_db
def test_a_forgotten_password_is_reset_through_a_one_time_link(client, reader, mailoutbox):
    client.post(reverse("access:password_reset"), {"email": reader.email})
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [reader.email]
    link = re.search(r"http://testserver(/accounts/password-reset/\S+/\S+/)", mailoutbox[0].body)
    form = client.get(link.group(1), follow=True)
    assert form.context["validlink"]
    done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302
    reader.refresh_from_db()
    assert reader.check_password(NEW)
    again = client.get(link.group(1), follow=True)
    assert not again.context["validlink"]


@pytest.mark.django_db
def test_an_unknown_address_gets_the_same_page_and_no_mail(client, reader, mailoutbox):
    users = get_user_model().objects.count()
    response = client.post(reverse("access:password_reset"), {"email": "nobody@example.org"})
    assert response["Location"] == reverse("access:password_reset_sent")
    assert mailoutbox == []
    assert get_user_model().objects.count() == users


@pytest.mark.django_db
def test_a_password_change_needs_the_old_password_and_a_strong_new_one(client, reader, password):
    client.force_login(reader)
    url = reverse("access:password_change")
    weak = client.post(
        url, {"old_password": password, "new_password1": "short", "new_password2": "short"}
    )
    assert weak.status_code == 200 and weak.context["form"].errors
    wrong = client.post(url, {"old_password": "nope", "new_password1": NEW, "new_password2": NEW})
    assert wrong.context["form"].errors
    ok = client.post(url, {"old_password": password, "new_password1": NEW, "new_password2": NEW})
    assert ok["Location"] == reverse("access:password_changed")
    reader.refresh_from_db()
    assert reader.check_password(NEW)
