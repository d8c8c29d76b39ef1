"""An officer in a real browser adds a note and a file on a case page, sees both on the
timeline, and downloads the file (audited)."""

import re

import pytest

from cases.models import Attachment, AuditEvent
from tests.browser.pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PDF = b"%PDF-1.7\nID5 answer: no personal data held for this subject.\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_officer_adds_a_note_and_a_file_and_downloads_it(
    browser_page, live_server, officer, make_case, tmp_path
):
    case = make_case()
    page = browser_page
    log_in(page, live_server, officer.username)
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")

    page.click("a.pd-step:has-text('Add note or attachment')")
    page.wait_for_url(re.compile(rf"/admin/cases/case/{case.pk}/steps/note/"))
    page.fill("#id_note", "Called the subject: she prefers the answer by post.")
    page.set_input_files("#id_attachment", files=[{
        "name": "ID5 answer.pdf", "mimeType": "application/pdf", "buffer": PDF,
    }])
    page.check("#id_include_in_response")
    page.click("input[type=submit][value='Add note or attachment']")
    page.wait_for_url(re.compile(rf"/admin/cases/case/{case.pk}/change/"))
    page.wait_for_selector(f"text=Case {case.reference} updated.")

    timeline = page.locator(".pd-timeline")
    assert "Note: Called the subject: she prefers the answer by post." in timeline.inner_text()
    assert "ID5 answer.pdf (" in timeline.inner_text()
    assert "note.added" in timeline.inner_text() and "attachment.added" in timeline.inner_text()
    page.screenshot(path=str(tmp_path / "notes.png"), full_page=True)

    with page.expect_download() as download_info:
        page.click("td.field-download a")
    download = download_info.value
    assert download.suggested_filename == "ID5 answer.pdf"
    path = tmp_path / "answer.pdf"
    download.save_as(path)
    assert path.read_bytes() == PDF

    attachment = Attachment.objects.get(case=case)
    assert attachment.include_in_response
    assert AuditEvent.objects.filter(action="attachment.downloaded", case=case).count() == 1
    page.reload()
    assert "ID5 answer.pdf (" in page.locator(".pd-timeline").inner_text()
    assert "downloaded" in page.locator(".pd-timeline").inner_text()
