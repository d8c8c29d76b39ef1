"""An officer in a real browser meets the confirmations before irreversible steps: a bulk submit
that sends deletes, a bulk close, and closing a case whose delete failed."""

import re

import pytest

from cases import services
from cases.choices import CaseStatus, JobStatus
from cases.models import AuditEvent, Case
from tests.browser.pages import log_in
from tests.conftest import submitted_with_jobs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _bulk(page, live_server, action: str, cases: list[Case]) -> None:
    page.goto(f"{live_server.url}/admin/cases/case/?all=")
    for case in cases:
        page.check(f"input[name=_selected_action][value='{case.pk}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def _status(case: Case) -> str:
    return Case.objects.values_list("status", flat=True).get(pk=case.pk)


def test_officer_confirms_bulk_submit_bulk_close_and_a_failed_delete(
    browser_page, live_server, officer, make_case, system_actor, tmp_path
):
    deleting = services.verify_identity(make_case(), actor=system_actor, method="account_login")
    reading = services.verify_identity(make_case(actions=["access"]), actor=system_actor,
                                       method="account_login")
    completed = submitted_with_jobs(make_case(), system_actor, default=JobStatus.COMPLETE)
    failed = submitted_with_jobs(make_case(), system_actor, default=JobStatus.COMPLETE,
                                 id5_delete=JobStatus.ERROR)
    page = browser_page
    log_in(page, live_server, officer.username)

    # Bulk submit including a delete: a confirmation page names the vendors asked to delete.
    _bulk(page, live_server, "submit", [deleting, reading])
    page.wait_for_selector("text=A delete cannot be recalled")
    rows = page.locator("table.pd-step-cases tbody tr")
    assert rows.filter(has_text=deleting.reference).inner_text().endswith(
        "Adobe Privacy Service, ID5"
    )
    assert rows.filter(has_text=reading.reference).inner_text().endswith("None")
    page.screenshot(path=str(tmp_path / "confirm-submit.png"), full_page=True)
    assert not deleting.jobs.exists()
    page.click("input[type=submit][value='Submit to vendors']")
    page.wait_for_selector("text=2 cases submitted to vendors")
    assert deleting.jobs.filter(action="delete").exists()

    # Bulk close: a real confirmation page listing the cases and explaining closing.
    _bulk(page, live_server, "close", [completed])
    page.wait_for_selector("text=the response has been delivered to the subject")
    assert page.locator("table.pd-step-cases").inner_text().count(completed.reference) == 1
    assert _status(completed) == CaseStatus.COMPLETED
    page.fill("textarea[name=delivered_out_of_band]", "Sent by post on 2 January 2027")
    page.click("input[type=submit][value='Close']")
    page.wait_for_selector("text=1 case closed.")
    assert _status(completed) == CaseStatus.CLOSED

    # A failed delete: the close page lists it and refuses to close without confirmation.
    page.goto(f"{live_server.url}/admin/cases/case/{failed.pk}/change/")
    page.click("a.pd-step:has-text('Close')")
    page.wait_for_url(re.compile(rf"/admin/cases/case/{failed.pk}/steps/close/"))
    assert "ID5 delete: error" in page.locator("table.pd-step-cases").inner_text()
    page.fill("textarea[name=delivered_out_of_band]", "Handed over in person on 2 January 2027")
    page.click("input[type=submit][value='Close']")
    page.wait_for_selector("text=The delete did not succeed: the ID5 delete (error)")
    page.screenshot(path=str(tmp_path / "refused-close.png"), full_page=True)
    assert _status(failed) == CaseStatus.ACTION_REQUIRED
    page.check("input[name=confirm_failed_deletes]")
    page.fill("textarea[name=failed_delete_reason]", "ID5 confirmed by email they hold nothing")
    page.click("input[type=submit][value='Close']")
    page.wait_for_selector(f"text=Case {failed.reference} closed.")
    assert _status(failed) == CaseStatus.CLOSED
    event = AuditEvent.objects.get(case=failed, action="case.closed")
    assert event.details == {
        "failed_delete_jobs": [failed.jobs.get(vendor="id5", action="delete").pk],
        "confirmed": True,
        "response": "out_of_band",
    }
