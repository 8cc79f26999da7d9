"""The client portal in a real browser: a client signs in and sees only its own work."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import save_screenshot
from tests.browser.portal_fixtures import PortalServer, portal_server

__all__ = ["portal_server"]  # the fixture

NORTHWIND = ["Northwind Traders", "Northwind Replatform", "Design checkout flow"]
ACME_INTERNAL = ["Acme Data Audit", "Review ERP margin", "Deliver data quality report"]


def test_client_signs_in_and_sees_only_its_own_projects(
    page: Page, portal_server: PortalServer, tmp_path: Path
) -> None:
    """Acme signs in through the form, sees its portal project and tasks, none of Northwind's
    nor its own internal ones, and Northwind's project URL is the 404 page."""
    url = portal_server.url
    page.goto(f"{url}/portal")
    assert page.url == f"{url}/portal/login"  # signed out: sent to sign in
    page.fill("#key", "dfk_a_dashboard_key_is_not_a_portal_key")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("Unknown portal key")

    page.fill("#key", portal_server.keys["Acme Corp"])
    page.click("button[type=submit]")
    expect(page.locator("#client-name")).to_have_text("Acme Corp")
    assert page.url == f"{url}/portal"
    projects = page.locator("#projects tbody tr")
    expect(projects).to_have_count(1)
    expect(projects.first).to_contain_text("Acme ERP Rollout")
    expect(projects.first).to_contain_text("In progress")
    body = page.locator("body").inner_text()
    for name in NORTHWIND + ACME_INTERNAL:
        assert name not in body, name
    cookie = {c["name"]: c for c in page.context.cookies(url)}["devfactory_portal"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    save_screenshot(page, tmp_path, "portal.png")

    page.click("text=Acme ERP Rollout")
    expect(page.locator("#project-name")).to_have_text("Acme ERP Rollout")
    tasks = page.locator("#tasks tbody tr")
    expect(tasks).to_have_count(3)
    body = page.locator("body").inner_text()
    for name in ["Map current order-to-cash process", "Configure ERP sandbox"]:
        assert name in body
    for name in NORTHWIND + ACME_INTERNAL:
        assert name not in body, name
    save_screenshot(page, tmp_path, "portal-project.png")

    other = page.goto(
        f"{url}/portal/projects/{portal_server.id('projects', 'Northwind Replatform')}"
    )
    assert other is not None and other.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    body = page.locator("body").inner_text()
    for name in NORTHWIND:
        assert name not in body, name
    api = page.request.get(f"{url}/api/v1/portal/projects")
    assert api.ok and [p["title"] for p in api.json()["projects"]] == ["Acme ERP Rollout"]

    page.goto(f"{url}/portal")
    page.click("text=Sign out")
    assert page.url == f"{url}/portal/login"
    assert page.request.get(f"{url}/api/v1/portal/me").status == 401
