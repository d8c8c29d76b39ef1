"""The response end to end in Chromium: an officer prepares, reviews and sends it; the subject
opens the emailed link (read from a real SMTP server) and downloads the package; the officer sees
the download on the case and closes it."""

import email
import hashlib
import io
import re
import zipfile

import pytest

from cases.choices import CaseStatus
from cases.models import Case, ResponsePackage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery"


def _response_link(sink, reference: str, base: str) -> str:
    for envelope in sink.envelopes:
        mail = email.message_from_bytes(envelope.content)
        if mail["Subject"] == f"Our answer to your privacy request {reference}":
            body = mail.get_payload(decode=True).decode()
            return re.search(rf"{re.escape(base)}/portal/response/[A-Za-z0-9_-]+/", body).group(0)
    raise AssertionError("no response message reached the SMTP server")


def test_officer_sends_the_response_subject_downloads_officer_closes(
    browser_page, live_server, officer, ready_case, smtp_server, settings
):
    settings.PUBLIC_BASE_URL = live_server.url
    case_url = f"{live_server.url}/admin/cases/case/{ready_case.pk}/change/"
    page = browser_page
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", officer.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    # The officer (not a superuser) prepares the response and reviews it.
    page.goto(case_url)
    page.click("button.pd-step:has-text('Prepare response')")
    page.locator("text=response prepared").wait_for()
    page.click("text=Review the response package")
    page.get_by_role("heading", name="Files in the package").wait_for()
    assert page.locator("td", has_text="vendor-files/6fc09b53.zip").is_visible()
    report = page.frame_locator("iframe[title=Report]")
    report.get_by_role("heading", name="The personal data we hold about you").wait_for()
    assert report.locator("td", has_text="attributes › address › city").first.is_visible()

    page.goto(case_url)
    page.click("button.pd-step:has-text('Send response')")
    page.locator("text=response sent").wait_for()
    package = ResponsePackage.objects.get(case=ready_case)
    link = _response_link(smtp_server, ready_case.reference, live_server.url)

    # The subject, in a browser of their own, opens the link and downloads.
    subject = page.context.browser.new_context(accept_downloads=True)
    portal = subject.new_page()
    opened = portal.goto(link)
    assert opened.status == 200 and opened.headers["referrer-policy"] == "no-referrer"
    portal.get_by_role("heading", name="Your answer is ready").wait_for()
    assert portal.locator("td", has_text="report.html").is_visible()
    assert package.downloads.count() == 0  # opening is not a download
    with portal.expect_download() as info:
        portal.get_by_role("button", name="Download your answer").click()
    data = info.value.path().read_bytes()
    assert hashlib.sha256(data).hexdigest() == package.sha256
    assert {"report.html", "deletion_confirmation.html", "MANIFEST.csv"} <= set(
        zipfile.ZipFile(io.BytesIO(data)).namelist())
    subject.close()

    # The officer sees the download on the case and on the timeline, then closes the case.
    page.goto(case_url)
    page.locator("text=1 of 5 downloads used, 4 left").wait_for()
    assert page.locator(".pd-response-downloads li", has_text="Downloaded").is_visible()
    timeline = page.locator(".pd-timeline")
    assert timeline.locator("td.pd-mono", has_text="response.downloaded").first.is_visible()
    page.click("a.pd-step:has-text('Close')")
    page.wait_for_url(re.compile(rf"/admin/cases/case/{ready_case.pk}/steps/close/"))
    page.click("input[type=submit][value='Close']")
    page.locator("text=closed").first.wait_for()
    assert Case.objects.get(pk=ready_case.pk).status == CaseStatus.CLOSED
