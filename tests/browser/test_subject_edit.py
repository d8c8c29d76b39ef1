"""An officer corrects a subject in a real browser: the email identity follows the contact email,
and a wrong identity is removed."""

import re

import pytest

from cases.models import AuditEvent, Identity
from tests.browser.pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_officer_changes_the_email_and_removes_an_identity(
    browser_page, live_server, officer, make_case
):
    case = make_case()
    page = browser_page
    log_in(page, live_server, officer.username)
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    page.click("text=Edit the subject and identities")
    page.wait_for_url(re.compile(r"/admin/cases/datasubject/\d+/change/"))

    box = page.get_by_label("Also change the email identity sent to vendors")
    assert box.is_checked()
    assert page.locator(
        "text=This case has an email identity with the current contact email."
    ).is_visible()
    page.fill("#id_email", "ada.king@example.org")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(rf"/admin/cases/case/{case.pk}/change/"))
    table = page.locator(".field-identity_table table")
    assert table.locator("text=ada.king@example.org").is_visible()
    assert table.locator("text=ada.lovelace@example.org").count() == 0

    page.click("text=Edit the subject and identities")
    page.wait_for_url(re.compile(r"/admin/cases/datasubject/\d+/change/"))
    page.check("input[name='identities-1-DELETE']")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(rf"/admin/cases/case/{case.pk}/change/"))
    assert page.locator(f"text=Subject of {case.reference} saved.").is_visible()

    assert [(i.namespace, i.value) for i in Identity.objects.filter(subject__case=case)] == [
        ("email", "ada.king@example.org")
    ]
    edits = AuditEvent.objects.filter(case=case, action="subject.updated").order_by("seq")
    assert [e.details.get("email_identity_followed") for e in edits] == [True, None]
    assert edits.last().details["identities_removed"] == 1

    page.click("text=Edit the subject and identities")
    page.check("input[name='identities-0-DELETE']")
    page.click("input[name=_save]")
    refusal = page.locator(
        "text=A case needs at least one identity: add another before removing the last one."
    )
    refusal.wait_for()  # is_visible() does not wait for the page the save loads
    assert refusal.is_visible()
