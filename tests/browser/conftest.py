"""Browser tests: a real Chromium (Debian's /usr/bin/chromium) driven by Playwright against
pytest-django's live_server, at the 1920 x 1080 screen readers use.

Fixtures:
- `browser`: one headless Chromium per test session.
- `page`: a fresh browser context (own cookies) per test, 1920 x 1080; an uncaught
  JavaScript error on the page fails the test.
- `login(user, page=None)`: types the user's name and password into the login form, like a
  person; returns the page (a new one when several people take turns in one test).
- `logged_in_page`: a page where the reader alice is logged in.
- `small_dataset`, `audit`, `open_audit`, `maintainer`: from tests/annotation/conftest.py.

Every test here is marked `browser` (run them alone with `-m browser`).
"""

import os
import shutil
import threading
import time

import pytest
from django.core.signals import request_finished, request_started

# The audits of the reading tests (first 300 real NIH rows, placeholder pictures), for any
# browser test that needs a grid to stand on.
from tests.annotation.conftest import (  # noqa: F401
    audit,
    maintainer,
    open_audit,
    placeholder_pictures,
    small_dataset,
)

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a
# thread with a running loop unless told it is safe (it is: the loop only drives the browser).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("LABEL_AUDIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREEN = {"width": 1920, "height": 1080}
TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"browser tests need Chromium at {CHROMIUM} (make chromium installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


class ServerActivity:
    """Requests the live server (a thread of this process) is handling, and when it last
    started or finished one."""

    def __init__(self):
        self.active, self.last = 0, time.monotonic()
        self.lock = threading.Lock()
        request_started.connect(self.started, weak=False)
        request_finished.connect(self.finished, weak=False)

    def started(self, **kwargs):
        with self.lock:
            self.active += 1
            self.last = time.monotonic()

    def finished(self, **kwargs):
        with self.lock:
            self.active -= 1
            self.last = time.monotonic()

    def wait_until_quiet(self, quiet: float = 0.3, limit: float = 5.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with self.lock:
                if self.active <= 0 and time.monotonic() - self.last >= quiet:
                    return
            time.sleep(0.02)

    def disconnect(self):
        request_started.disconnect(self.started)
        request_finished.disconnect(self.finished)


@pytest.fixture
def new_page(browser, live_server):
    """Open a page in a fresh context (its own cookies); all are closed after the test."""
    contexts = []
    errors: list[str] = []
    activity = ServerActivity()

    def open_page():
        context = browser.new_context(viewport=SCREEN, base_url=live_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        return page

    yield open_page
    # A grid reports its reading time with a beacon when the page is left. Leave every page
    # and let the live server answer it now: sent by context.close(), it reached the server
    # while the test database was being flushed, and deadlocked with the flush.
    for context in contexts:
        for page in context.pages:
            page.goto("about:blank")
    activity.wait_until_quiet()
    activity.disconnect()
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def login(new_page, password):
    """login(user, page=None): log in through the login form; a new page when none is given."""

    def log_in(user, page=None, *, secret=None):
        page = page or new_page()
        page.goto("/accounts/login/")
        page.fill("input[name=username]", user.get_username())
        page.fill("input[name=password]", secret or password)
        with page.expect_navigation():
            page.click("button[type=submit], input[type=submit]")
        assert "/accounts/login/" not in page.url, f"{user} could not log in"
        return page

    return log_in


@pytest.fixture
def logged_in_page(login, reader, page):
    """A 1920 x 1080 page where the reader alice is logged in."""
    return login(reader, page)
