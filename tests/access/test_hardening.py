"""Hardening: log-in lock-out, password rules, CSRF on htmx requests, security headers, a
Content Security Policy the templates satisfy, and `check --deploy` clean in production."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from tests.annotation.conftest import first_grid

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
# What a CSP without 'unsafe-inline' blocks: inline scripts, <style> blocks, style attributes,
# inline event handlers, javascript: URLs.
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:|hx-on",
    re.IGNORECASE,
)


@pytest.mark.django_db
def test_repeated_wrong_passwords_lock_the_account_out(client, reader, password):
    url = reverse("login")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(url, {"username": reader.username, "password": "wrong-guess"})
        assert response.status_code == 200
    last = client.post(url, {"username": reader.username, "password": "wrong-guess"})
    assert last.status_code == 429
    locked = client.post(url, {"username": reader.username, "password": password})
    assert locked.status_code == 429
    assert b"Too many failed log-ins" in locked.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_right_password_before_the_limit_logs_in_and_resets_the_count(client, reader, password):
    url = reverse("login")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(url, {"username": reader.username, "password": "wrong-guess"})
    assert client.post(url, {"username": reader.username, "password": password}).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(url, {"username": reader.username, "password": "wrong-guess"})
    assert client.post(url, {"username": reader.username, "password": password}).status_code == 302


@pytest.mark.parametrize(
    "weak", ["short-pw-1", "123456789012345", "password123456", "alice.example.org"]
)
def test_weak_passwords_are_refused(weak, django_user_model):
    user = django_user_model(username="alice", email="alice@example.org")
    with pytest.raises(ValidationError):
        validate_password(weak, user)


def test_a_long_unusual_password_is_accepted(django_user_model):
    user = django_user_model(username="alice", email="alice@example.org")
    validate_password("tidal-ochre-lantern-58", user)


# Templates that are never a page of the site, with why they may carry inline code.
NOT_PAGES = {
    # The standalone HTML report: a file downloaded as an attachment and shared by e-mail, so
    # it must carry its own CSS; browsers do not render an attachment under the site's CSP.
    "templates/reports/standalone.html",
}


@pytest.mark.parametrize(
    "template",
    [path for path in TEMPLATES if str(path.relative_to(ROOT)) not in NOT_PAGES],
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_templates_have_no_inline_script_or_style(template):
    source = template.read_text()
    found = INLINE.findall(source)
    assert not found, f"{template}: {found} would be blocked by the CSP"


def test_the_inline_pattern_catches_what_the_csp_blocks():
    for bad in ("<script>x()</script>", '<p style="color:red">', '<a onclick="x()">', "<style>"):
        assert INLINE.search(bad), bad
    assert not INLINE.search('<script src="/static/js/grid.js" defer></script>')


@pytest.mark.django_db
def test_pages_carry_the_csp_and_security_headers(client, reader):
    client.force_login(reader)
    response = client.get(reverse("home"))
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_htmx_state_changes_need_the_page_csrf_token(reader, audit):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reader)
    label, samples = first_grid(audit)
    page = client.get(reverse("annotation:grid", args=[audit.pk, label.pk, 1]))
    token = re.search(rb'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page.content).group(1)
    url = reverse("annotation:mark", args=[samples[0].pk])
    body = {"idempotency_key": "csrf-1", "verdict": "green"}
    refused = client.post(url, body, HTTP_HX_REQUEST="true")
    assert refused.status_code == 403
    assert not samples[0].marks.exists()
    accepted = client.post(url, body, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token.decode())
    assert accepted.status_code == 200
    assert samples[0].marks.get().verdict == "green"


def _production_env(tmp_path) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "EMAIL_", "SECURE_", "DATABASE_", "CELERY_"))
    }
    env.update(
        DEBUG="0",
        SECRET_KEY="x7Qp2-" + "k" * 20 + "Zr9!vB3mN8wL5tY1uH6jG4fD0sA2qW",
        ALLOWED_HOSTS="audit.example.org",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        LABEL_AUDIT_VAR=str(tmp_path),
        EMAIL_HOST="smtp.example.org",
        EMAIL_PORT="2525",
        EMAIL_HOST_USER="mailer",
        EMAIL_HOST_PASSWORD="mail-secret",
    )
    return env


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_an_insecure_production(tmp_path):
    """The check above could fail: with secure cookies off, it does."""
    env = _production_env(tmp_path) | {"SECURE_COOKIES": "0"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SESSION_COOKIE_SECURE" in result.stderr + result.stdout


def test_production_sends_mail_by_smtp_from_the_environment(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, s.EMAIL_USE_TLS,"
        " s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0)"
    )
    env = _production_env(tmp_path) | {"DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.org",
        "2525",
        "mailer",
        "True",
        "True",
        "True",
        "True",
    ]


def test_development_prints_mail_on_the_console():
    assert settings.EMAIL_BACKEND in (
        "django.core.mail.backends.console.EmailBackend",
        # pytest-django swaps in the in-memory backend for the tests.
        "django.core.mail.backends.locmem.EmailBackend",
    )
