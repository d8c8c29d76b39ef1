"""The security headers in a real browser: every page type loads with no CSP violation, the
admin's scripts and Swagger UI still run, forms still post under `Referrer-Policy: no-referrer`,
and an auditor's case page withholds the subject's contact data."""

import re

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery"
EMAIL = "ada.lovelace@example.org"


def _log_in(page, live_server, username: str) -> None:
    # A real POST under no-referrer: Chromium sends `Origin: null` and no Referer.
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


def _watch_csp(page) -> list[str]:
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    return violations


def test_every_page_type_loads_without_a_csp_violation(
    browser_page, live_server, officer, make_case
):
    case = make_case()
    page = browser_page
    violations = _watch_csp(page)

    _log_in(page, live_server, officer.username)
    for url in [
        reverse("admin:index"),
        reverse("admin:cases_case_changelist"),
        reverse("admin:cases_case_change", args=[case.pk]),
        reverse("admin:cases_case_step_extend", args=[case.pk]),
        reverse("admin:cases_case_add"),
        reverse("admin:cases_case_metrics"),
        reverse("admin:cases_auditevent_changelist"),
        "/portal/",
        "/no-such-page/",
    ]:
        response = page.goto(f"{live_server.url}{url}")
        assert "content-security-policy" in response.headers  # Playwright lowercases names
        assert response.headers["referrer-policy"] == "no-referrer"

    # The admin's own scripts run: "select all" on the case list ticks every row.
    page.goto(f"{live_server.url}{reverse('admin:cases_case_changelist')}")
    page.click("#action-toggle")
    assert page.locator("input.action-select:checked").count() == 1
    assert violations == []


def test_the_api_docs_render_under_the_policy(browser_page, live_server, db):
    page = browser_page
    violations = _watch_csp(page)

    page.goto(f"{live_server.url}/api/v1/docs/")

    page.wait_for_selector(".swagger-ui .info .title")
    assert "Privacy Desk API" in page.locator(".swagger-ui .info .title").inner_text()
    assert violations == []


def test_an_auditor_sees_the_case_without_contact_data(
    browser_page, live_server, auditor, make_case
):
    case = make_case()
    page = browser_page

    _log_in(page, live_server, auditor.username)
    page.goto(f"{live_server.url}{reverse('admin:cases_case_change', args=[case.pk])}")

    text = page.locator("#content").inner_text()
    assert case.reference in text
    assert "Withheld: your role does not see the subject's contact data." in text
    assert EMAIL not in page.content()
    assert re.search(r"ecid\s+Standard\s+withheld", text)
