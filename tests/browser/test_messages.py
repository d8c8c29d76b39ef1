"""An officer in a real browser: open a CCPA case, see its acknowledgement go out over SMTP and
show on the case page, then edit and preview the template."""

import re

import pytest

from cases.choices import MessageStatus
from cases.models import Case, Message, MessageTemplate
from tests.browser.pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_intake_acknowledges_the_subject_and_the_officer_sees_it(
    browser_page, live_server, officer, smtp_server, tmp_path
):
    page = browser_page
    log_in(page, live_server, officer.username)

    page.goto(f"{live_server.url}/admin/cases/case/add/")
    page.select_option("#id_regulation", "ccpa")
    page.check("input[name=actions][value=access]")
    page.fill("#id_subject_name", "Grace Hopper")
    page.fill("#id_subject_email", "grace@example.org")
    page.fill("#id_external_ref", "MAIL-42")
    page.click("input[value='Open case']")
    page.wait_for_url(re.compile(r"/admin/cases/case/\d+/change/"))
    page.screenshot(path=str(tmp_path / "case-with-ack.png"), full_page=True)

    case = Case.objects.get(external_ref="MAIL-42")
    message = Message.objects.get(case=case)
    assert message.status == MessageStatus.SENT
    assert smtp_server.envelopes[0].rcpt_tos == ["grace@example.org"]
    assert page.locator(".pd-msg-sent", has_text="Sent").first.is_visible()
    assert page.locator("text=Acknowledged on").is_visible()
    assert page.locator("td.pd-mono", has_text="message.sent").first.is_visible()  # timeline

    template = MessageTemplate.objects.get(kind="acknowledgement")
    page.goto(f"{live_server.url}/admin/cases/messagetemplate/{template.pk}/change/")
    page.fill("#id_subject", "Received {refernce}")
    page.click("input[name=_save]")
    page.locator(".errorlist", has_text="Unknown placeholder {refernce}").wait_for()

    page.click("text=Preview on a case")
    page.fill("#id_case", case.reference)
    page.click("button:has-text('Preview')")
    page.locator("#pd-preview-body", has_text="California Consumer Privacy Act").wait_for()
    assert page.locator("h2", has_text=f"privacy request {case.reference}").is_visible()
