"""The dashboard in a real browser: its OpenAPI docs render, and a key signs in."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import WebServer, save_screenshot


def test_docs_page_lists_the_logs_endpoint(
    page: Page, web_server: WebServer, tmp_path: Path
) -> None:
    page.goto(f"{web_server.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("devfactory dashboard API")
    logs = page.locator('.opblock-summary-path[data-path="/api/v1/logs"]')
    expect(logs).to_be_visible()
    expect(logs).to_contain_text("/api/v1/logs")
    shot = save_screenshot(page, tmp_path, "docs-api.png")
    assert shot.stat().st_size > 10_000


def test_login_sets_a_session_the_api_accepts(page: Page, web_server: WebServer) -> None:
    # Signed out, the API refuses the browser.
    refused = page.goto(f"{web_server.url}/api/v1/me")
    assert refused is not None and refused.status == 401

    # An API client signs in with POST /login (form field `key`) and gets JSON back.
    answer = page.request.post(f"{web_server.url}/login", form={"key": web_server.admin_key})
    assert answer.ok, answer.text()
    body = answer.json()
    assert (body["name"], body["role"]) == (web_server.admin_name, "admin")
    cookies = {c["name"]: c for c in page.context.cookies(web_server.url)}
    assert cookies["devfactory_session"]["httpOnly"] is True
    assert cookies["devfactory_csrf"]["value"] == body["csrf_token"]

    # The session cookie now rides along on the page's own navigation.
    shown = page.goto(f"{web_server.url}/api/v1/me")
    assert shown is not None and shown.status == 200
    expect(page.locator("body")).to_contain_text(f'"name":"{web_server.admin_name}"')
    assert shown.json() == {"name": web_server.admin_name, "role": "admin", "databases": None}


def test_the_sign_in_page_signs_a_person_in(page: Page, web_server: WebServer) -> None:
    """The form: a wrong key is refused with the reason; the right one sets the session and
    goes on to the page asked for (only ever a path on this server)."""
    page.goto(f"{web_server.url}/login?next=/api/v1/me")
    page.fill("#key", "dfk_not_a_key")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("Unknown API key")
    page.fill("#key", web_server.admin_key)
    page.click("button[type=submit]")
    expect(page.locator("body")).to_contain_text(f'"name":"{web_server.admin_name}"')
    assert page.url == f"{web_server.url}/api/v1/me"
    page.goto(f"{web_server.url}/login?next=https://evil.example/")
    assert "/docs" == page.locator("input[name=next]").get_attribute("value")
