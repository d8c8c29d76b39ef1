"""The subject verifies in a real browser: API intake with an email link and `submit: true`, the
email over SMTP, the portal page in Chromium, Confirm, and the officer's timeline."""

import email
import re

import pytest
import requests

from cases.api import clients
from cases.audit import Actor
from cases.choices import ApiScope, CaseStatus
from cases.models import ApiClient, Case
from tests.browser.pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _bodies(sink) -> dict[str, str]:
    """Subject line → decoded text of every email the SMTP sink received."""
    mails = [email.message_from_bytes(envelope.content) for envelope in sink.envelopes]
    return {mail["Subject"]: mail.get_payload(decode=True).decode() for mail in mails}


def test_subject_confirms_in_the_portal_and_the_case_is_verified_and_submitted(
    browser_page, live_server, officer, smtp_server, settings
):
    settings.PUBLIC_BASE_URL = live_server.url
    client = ApiClient(name="Ticketing", scopes=[ApiScope.CASES_READ, ApiScope.CASES_WRITE])
    key = clients.create_client(client, actor=Actor.system("tests")).key
    response = requests.post(
        f"{live_server.url}/api/v1/cases/", timeout=30,
        headers={"Authorization": f"Api-Key {key}"},
        json={"external_ref": "TICKET-9001", "regulation": "gdpr", "actions": ["access"],
              "subject": {"name": "Grace Hopper", "email": "grace@example.org"},
              "identities": [{"namespace": "email", "value": "grace@example.org"}],
              "verification": {"method": "email_link"}, "submit": True},
    )
    assert response.status_code == 201, response.text
    case = Case.objects.get(pk=response.json()["id"])
    assert case.status == CaseStatus.NEW

    # The acknowledgement and the verification request both went out over SMTP.
    bodies = _bodies(smtp_server)
    assert f"We have received your privacy request {case.reference}" in bodies
    request_text = bodies[f"Please confirm your privacy request {case.reference}"]
    link = re.search(rf"{re.escape(live_server.url)}/portal/verify/[A-Za-z0-9_-]+/",
                     request_text).group(0)

    page = browser_page
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda req: problems.append(req.url)
            if not req.url.startswith(live_server.url) else None)
    page.on("response", lambda resp: problems.append(f"{resp.status} {resp.url}")
            if resp.status >= 400 and "/portal/verify/" not in resp.url else None)
    opened = page.goto(link)
    assert opened.status == 200
    assert opened.headers["referrer-policy"] == "no-referrer"
    page.get_by_role("heading", name="Confirm your request").wait_for()
    # The portal's own stylesheet applies under its CSP (the button is styled, not grey).
    assert page.eval_on_selector("button", "b => getComputedStyle(b).fontWeight") == "600"
    assert Case.objects.get(pk=case.pk).status == CaseStatus.NEW  # opening verified nothing

    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Thank you: your request is confirmed").wait_for()
    assert problems == []

    case.refresh_from_db()
    assert case.verification_method == "email_link" and case.verified_at
    assert case.status in (CaseStatus.IN_PROGRESS, CaseStatus.ACTION_REQUIRED)
    assert case.jobs.exists()
    assert page.goto(link).status == 410  # a link works once

    log_in(page, live_server, officer.username)
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    page.locator("text=Email link confirmed by the subject, recorded by data subject").wait_for()
    timeline = page.locator(".pd-timeline")
    for action in ("verification.link_sent", "portal.link_opened", "portal.link_confirmed",
                   "case.identity_verified", "case.submitted"):
        assert timeline.locator("td.pd-mono", has_text=action).first.is_visible(), action
    assert timeline.locator("td", has_text="New → Identity verified").first.is_visible()
