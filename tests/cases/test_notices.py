"""Extension notices and rejections reach the subject, by email or another way the officer
records; from the case page and in bulk."""

import email
import json

import pytest
from django.db import connection
from django.urls import reverse

from cases import services
from cases.audit import Actor
from cases.choices import CaseStatus, MessageKind, MessageStatus
from cases.models import AuditEvent, Case, Message, OutOfBandNotice

OFFICER = Actor("user", "7", "olivia")
ADA = "ada.lovelace@example.org"


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


def step_url(name: str, case: Case) -> str:
    return reverse(f"admin:cases_case_step_{name}", args=[case.pk])


def received_mail(sink) -> tuple[email.message.Message, str]:
    [envelope] = sink.envelopes
    assert envelope.rcpt_tos == [ADA]
    mail = email.message_from_bytes(envelope.content)
    return mail, mail.get_payload(decode=True).decode()


def test_extending_emails_the_notice_with_the_reason_and_new_date(
    smtp_server, make_case, django_capture_on_commit_callbacks
):
    case = make_case()

    with django_capture_on_commit_callbacks(execute=True):
        case = services.extend_deadline(case, actor=OFFICER,
                                        reason="Four systems hold twelve years of data.")

    message = Message.objects.get(case=case)
    assert message.kind == MessageKind.EXTENSION_NOTICE
    assert message.status == MessageStatus.SENT
    mail, text = received_mail(smtp_server)
    assert mail["Subject"] == f"We need more time for your privacy request {case.reference}"
    assert "Four systems hold twelve years of data." in text
    assert f"{case.due_date.day} {case.due_date:%B} {case.due_date.year}" in text
    queued = AuditEvent.objects.get(case=case, action="message.queued")
    assert queued.details["kind"] == "extension_notice"
    assert "twelve years" not in json.dumps(queued.details)


def test_rejecting_emails_the_rejection_with_the_reason(
    smtp_server, make_case, django_capture_on_commit_callbacks
):
    case = make_case()

    with django_capture_on_commit_callbacks(execute=True):
        services.reject(case, actor=OFFICER, code="duplicate",
                        reason="It repeats your request DSAR-2026-000001.")

    mail, text = received_mail(smtp_server)
    assert mail["Subject"] == f"Your privacy request {case.reference}"
    assert "It repeats your request DSAR-2026-000001." in text
    assert Message.objects.get(case=case).kind == MessageKind.REJECTION


@pytest.mark.parametrize("step", ["extend", "reject"])
def test_told_another_way_keeps_the_note_encrypted_and_audits_the_kind_only(
    smtp_server, make_case, django_capture_on_commit_callbacks, step
):
    case = make_case()
    note = "Phoned Ada on +44 20 7946 0000 on 2 January"

    with django_capture_on_commit_callbacks(execute=True):
        if step == "extend":
            services.extend_deadline(case, actor=OFFICER, reason="Complex",
                                     told_out_of_band=note)
        else:
            services.reject(case, actor=OFFICER, reason="Withdrawn", told_out_of_band=note)

    kind = MessageKind.EXTENSION_NOTICE if step == "extend" else MessageKind.REJECTION
    assert not Message.objects.filter(case=case).exists()
    assert smtp_server.envelopes == []
    notice = OutOfBandNotice.objects.get(case=case)
    assert (notice.kind, notice.note, notice.recorded_by) == (kind, note, "olivia")
    with connection.cursor() as cursor:
        cursor.execute("SELECT note FROM cases_outofbandnotice")
        assert "7946" not in cursor.fetchone()[0]
    event = AuditEvent.objects.get(case=case, action="case.subject_told_out_of_band")
    assert event.details == {"kind": kind}


def test_a_message_that_cannot_be_written_undoes_the_step(make_case):
    case = make_case()
    case.subject.email = ""
    case.subject.save()

    with pytest.raises(services.ValidationError, match="no contact email"):
        services.reject(case, actor=OFFICER, reason="Withdrawn")

    assert Case.objects.get(pk=case.pk).status == CaseStatus.NEW


def test_the_extend_step_asks_how_the_subject_is_told(officer_client, make_case):
    case = make_case()

    page = officer_client.get(step_url("extend", case)).content.decode()
    missing = officer_client.post(step_url("extend", case),
                                  {"reason": "Complex", "tell": "out_of_band", "told_note": ""})
    done = officer_client.post(step_url("extend", case),
                               {"reason": "Complex", "tell": "out_of_band",
                                "told_note": "By letter on 2 January"})

    assert "Email the subject the extension notice with the reason above" in page
    assert "I told the subject another way" in page
    assert missing.status_code == 200
    assert b"Say how and when you told the subject." in missing.content
    assert done.status_code == 302
    assert OutOfBandNotice.objects.get(case=case).note == "By letter on 2 January"
    assert not Message.objects.filter(case=case).exists()


def test_the_reject_step_emails_by_default(officer_client, make_case):
    case = make_case()

    response = officer_client.post(step_url("reject", case),
                                   {"code": "excessive", "reason": "Fifth this month",
                                    "tell": "message"})

    assert response.status_code == 302
    assert Message.objects.get(case=case).kind == MessageKind.REJECTION
    assert "Fifth this month" in Message.objects.get(case=case).body


def test_bulk_reject_tells_each_subject(officer_client, make_case):
    cases = [make_case(), make_case()]

    response = officer_client.post(reverse("admin:cases_case_changelist"), {
        "action": "reject", "_selected_action": [c.pk for c in cases], "apply": "1",
        "code": "withdrawn", "reason": "You withdrew the request.", "tell": "message",
    })

    assert response.status_code == 302
    for case in cases:
        assert Case.objects.get(pk=case.pk).status == CaseStatus.REJECTED
        assert Message.objects.get(case=case).kind == MessageKind.REJECTION


def test_bulk_extend_told_another_way(officer_client, make_case):
    cases = [make_case(), make_case()]

    officer_client.post(reverse("admin:cases_case_changelist"), {
        "action": "extend", "_selected_action": [c.pk for c in cases], "apply": "1",
        "reason": "Complex", "tell": "out_of_band", "told_note": "Told both at the meeting",
    })

    assert OutOfBandNotice.objects.filter(kind=MessageKind.EXTENSION_NOTICE).count() == 2
    assert not Message.objects.exists()
