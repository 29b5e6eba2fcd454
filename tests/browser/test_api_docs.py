"""The API documentation pages render in Chromium under the site's Content Security Policy."""

from playwright.sync_api import expect

# Redoc's bundle always renders its maker's logo from their CDN ("API docs by Redocly"); the CSP
# blocking it is the point (no request leaves for a CDN), and whether the console reports it
# before the test ends is a matter of timing. Any other violation fails.
REDOC_BRANDING = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_swagger_and_redoc_render_the_schema_without_csp_violations(login, reader):
    page = login(reader)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text and REDOC_BRANDING not in message.text
            else None
        ),
    )
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
    expect(page.locator(".swagger-ui")).to_contain_text("/api/invitations/")
    page.goto("/api/redoc/")
    expect(page.locator("redoc, #redoc-container, .redoc-wrap").first).to_contain_text(
        "invitations"
    )
    assert not violations, violations


def test_the_admin_pages_respect_the_csp(login, admin_user, audit):
    page = login(admin_user)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    for url in (
        "/admin/",
        "/admin/annotation/audit/",
        f"/admin/annotation/audit/{audit.pk}/change/",
        "/admin/annotation/auditevent/",
        f"/audits/{audit.pk}/people/",
        "/audit-log/",
        "/accounts/token/",
    ):
        page.goto(url)
        expect(page.locator("body")).to_be_visible()
    assert not violations, violations
