"""An officer in a real browser: log in, open a case, submit it, watch it move, download the ZIP."""

import re
import zipfile

import pytest

from cases import services
from cases.choices import CaseStatus
from cases.models import AuditEvent
from tests.browser.pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_officer_submits_a_case_and_downloads_the_result(
    browser_page, live_server, vendor_sandbox, officer, make_case, system_actor, tmp_path
):
    case = make_case(
        regulation="gdpr",
        actions=["access"],
        vendors=["adobe_privacy"],
        identities=[{"namespace": "email", "value": "grace.hopper@example.org"}],
    )
    services.verify_identity(case, actor=system_actor, method="account_login")
    page = browser_page

    log_in(page, live_server, officer.username)
    assert page.locator("#pd-queue").is_visible()
    page.click("#pd-work >> text=Waiting to send")  # the dashboard links into the job list
    page.goto(f"{live_server.url}/admin/cases/case/")
    page.click(f"#result_list >> text={case.reference}")
    page.wait_for_url(re.compile(rf"/admin/cases/case/{case.pk}/change/"))
    assert page.locator(".pd-status-verified").first.is_visible()

    page.click("button:has-text('Submit to vendors'), input[value='Submit to vendors']")
    page.wait_for_selector("text=submitted to vendors")
    page.screenshot(path=str(tmp_path / "after-submit.png"), full_page=True)
    assert page.locator(".pd-job-submitted, .pd-job-processing, .pd-job-complete").count() >= 1

    page.click("button:has-text('Sync now'), input[value='Sync now']")
    page.wait_for_selector("text=queued for a status sync")
    page.reload()
    page.wait_for_selector(".pd-status-completed")
    page.screenshot(path=str(tmp_path / "completed.png"), full_page=True)

    with page.expect_download() as download_info:
        page.click("td.field-download a")
    path = tmp_path / "result.zip"
    download_info.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        assert any(name.startswith("Analytics/") for name in archive.namelist())

    with page.expect_download() as case_file_info:
        page.click("text=Download case file")
    case_file = tmp_path / "case-file.zip"
    case_file_info.value.save_as(case_file)
    with zipfile.ZipFile(case_file) as archive:
        assert "summary.html" in archive.namelist()

    case.refresh_from_db()
    assert case.status == CaseStatus.COMPLETED
    assert AuditEvent.objects.filter(action="result.downloaded", case=case).exists()


def test_auditor_sees_the_queue_but_no_buttons(
    browser_page, live_server, auditor, make_case
):
    case = make_case()
    page = browser_page
    log_in(page, live_server, auditor.username)
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    assert page.locator("text=Verify identity").count() == 0
    assert page.locator(".pd-status-new").first.is_visible()
