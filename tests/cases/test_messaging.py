"""Messages to the data subject: templates, a real SMTP conversation, retries, the audit trail."""

import datetime as dt
import email
import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from cases import messaging, tasks
from cases.audit import Actor
from cases.choices import MessageKind, MessageStatus
from cases.models import AuditEvent, Message
from tests.conftest import free_port

ADA = "ada.lovelace@example.org"


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


def _events(case, prefix: str = "message.") -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(case=case, action__startswith=prefix).order_by("seq"))


def _make_due(message: Message) -> None:
    """Time passes: the retry the worker scheduled is now due."""
    Message.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


def _queue_ack(case, capture) -> Message:
    with capture(execute=True):
        return messaging.queue_message(case, MessageKind.ACKNOWLEDGEMENT, actor=Actor.system("t"))


# --- Sending over SMTP ------------------------------------------------------------------------


def test_acknowledgement_is_sent_end_to_end_over_smtp(
    smtp_server, make_case, django_capture_on_commit_callbacks
):
    case = make_case(regulation="ccpa", received_at=dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC))

    message = _queue_ack(case, django_capture_on_commit_callbacks)

    message.refresh_from_db()
    case.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.attempts == 1
    assert case.acknowledged_at == message.sent_at
    [envelope] = smtp_server.envelopes
    assert envelope.mail_from == "privacy@localhost" and envelope.rcpt_tos == [ADA]
    mail = email.message_from_bytes(envelope.content)
    text = mail.get_payload(decode=True).decode()
    assert mail["Subject"] == f"We have received your privacy request {case.reference}"
    assert mail["X-PrivacyDesk-Reference"] == case.reference
    assert "the California Consumer Privacy Act (CCPA)" in text
    assert "20 November 2026" in text  # received
    assert "4 January 2027" in text  # due: 45 days later, in words
    assert "{" not in text
    assert [e.action for e in _events(case)] == ["message.queued", "message.sent"]


def test_a_message_is_sent_once_even_when_its_task_runs_twice(
    smtp_server, make_case, django_capture_on_commit_callbacks
):
    message = _queue_ack(make_case(), django_capture_on_commit_callbacks)

    assert tasks.send_message(message.pk) == "nothing to do"
    assert tasks.send_due_messages() == "nothing to do"
    assert len(smtp_server.envelopes) == 1


def test_smtp_down_retries_with_backoff_then_fails_with_the_reason_and_can_be_sent_again(
    settings, make_case, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    case = make_case()

    message = _queue_ack(case, django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.attempts == 1
    assert message.next_attempt_at > timezone.now() + dt.timedelta(seconds=50)
    assert "Mail server unreachable" in message.last_error
    assert tasks.send_due_messages() == "nothing to do"  # not due yet: rescheduled, no sleep
    for _ in range(messaging.MAX_SEND_ATTEMPTS - 1):
        _make_due(message)
        tasks.send_due_messages()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.attempts == messaging.MAX_SEND_ATTEMPTS
    assert message.last_error.startswith("Mail server unreachable: Connection refused")
    case.refresh_from_db()
    assert case.acknowledged_at is None
    actions = [e.action for e in _events(case)]
    assert actions == ["message.queued", *["message.attempt_failed"] * 4, "message.failed"]

    # The mail server is back: an officer sends it again, with the text kept all along.
    from aiosmtpd.controller import Controller

    from tests.conftest import SmtpSink

    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=settings.EMAIL_PORT)
    controller.start()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            messaging.resend(message, actor=Actor.system("t"))
    finally:
        controller.stop()
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert case.reference in sink.envelopes[0].content.decode()


def test_a_refused_recipient_fails_with_the_servers_reason_but_not_the_address(
    smtp_server, make_case, django_capture_on_commit_callbacks
):
    smtp_server.refuse_rcpt = f"550 5.1.1 <{ADA}>: Recipient address rejected"
    message = _queue_ack(make_case(), django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert "550 5.1.1 <[address]>: Recipient address rejected" in message.last_error
    assert ADA not in message.last_error
    failed = _events(message.case)[-1]
    assert failed.action == "message.attempt_failed" and failed.details["smtp_code"] == 550


def test_address_and_text_are_encrypted_at_rest_and_absent_from_the_audit_trail(
    smtp_server, make_case, django_capture_on_commit_callbacks
):
    case = make_case()
    message = _queue_ack(case, django_capture_on_commit_callbacks)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT recipient, subject, body FROM cases_message WHERE id = %s", [message.pk]
        )
        raw = " ".join(cursor.fetchone())
    assert ADA not in raw and case.reference not in raw and "Hello" not in raw
    trail = json.dumps([e.details for e in AuditEvent.objects.filter(case=case)])
    assert ADA not in trail and "Ada" not in trail and "Hello" not in trail
    queued = _events(case)[0]
    assert queued.details == {
        "kind": "acknowledgement", "message_id": message.pk, "body_sha256": message.body_sha256
    }


def test_auto_acknowledge_off_queues_nothing(settings, make_case):
    settings.AUTO_ACKNOWLEDGE = False

    assert messaging.acknowledge_on_intake(make_case(), actor=Actor.system("t")) is None
    assert not Message.objects.exists()


# --- Templates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MessageKind.values)
def test_shipped_templates_name_the_law_the_reference_and_the_due_date(make_case, kind):
    case = make_case(received_at=dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC))
    extra = {"link": "https://desk.example/portal/verify/abc/"} if kind in (
        MessageKind.VERIFICATION_REQUEST, MessageKind.RESPONSE) else {}
    if kind in (MessageKind.EXTENSION_NOTICE, MessageKind.REJECTION):
        extra = {"reason": "The request covers twelve systems."}

    subject, body = messaging.render(messaging.template_for(kind), case, extra)

    assert case.reference in subject and case.reference in body
    assert "the EU General Data Protection Regulation (GDPR)" in body
    assert "30 December 2026" in body
    assert all(value in body for value in extra.values())
    assert "{" not in subject + body


def test_an_unknown_placeholder_is_refused_naming_it(db):
    template = messaging.template_for(MessageKind.ACKNOWLEDGEMENT)
    template.body = "Due on {due_date}, see {refrence}."

    with pytest.raises(ValidationError) as refused:
        template.full_clean()

    assert refused.value.message_dict == {
        "body": [
            "Unknown placeholder {refrence}; use {reference}, {regulation}, {due_date}, "
            "{received_date}, {link}, {reason}, {name}."
        ]
    }


@pytest.mark.parametrize(
    ("kind", "text", "fragment"),
    [
        (MessageKind.ACKNOWLEDGEMENT, "Open {link}", "{link} has no value"),
        (MessageKind.VERIFICATION_REQUEST, "Because {reason}", "{reason} has no value"),
        (MessageKind.REJECTION, "Due {due_date:%Y}", "takes no format"),
        (MessageKind.REJECTION, "A { brace", "A brace is not closed"),
        (MessageKind.REJECTION, "Item {0}", "Unknown placeholder {0}"),
    ],
)
def test_placeholders_a_kind_cannot_fill_are_refused(kind, text, fragment):
    assert fragment in messaging.check_placeholders(text, kind)


def test_officer_edits_a_template_in_the_admin_and_a_typo_is_refused(officer_client, officer):
    template = messaging.template_for(MessageKind.ACKNOWLEDGEMENT)
    url = reverse("admin:cases_messagetemplate_change", args=[template.pk])

    refused = officer_client.post(url, {"subject": "Got it {referense}", "body": "Hi"})

    assert refused.status_code == 200
    assert "Unknown placeholder {referense}" in str(refused.context["adminform"].form.errors)
    template.refresh_from_db()
    assert template.subject.startswith("We have received")

    saved = officer_client.post(url, {"subject": "Received: {reference}", "body": "Hello.\n"})

    assert saved.status_code == 302
    template.refresh_from_db()
    assert template.subject == "Received: {reference}"
    event = AuditEvent.objects.get(action="message_template.changed")
    assert event.details == {"kind": "acknowledgement", "fields": ["body", "subject"]}
    assert event.actor_label == officer.username


def test_template_preview_renders_for_a_chosen_case(officer_client, make_case):
    case = make_case()
    template = messaging.template_for(MessageKind.VERIFICATION_REQUEST)
    url = reverse("admin:cases_messagetemplate_preview", args=[template.pk])

    page = officer_client.get(url, {"case": case.reference}).content.decode()
    missing = officer_client.get(url, {"case": "DSAR-1999-000001"}).content.decode()

    assert f"Please confirm your privacy request {case.reference}" in page
    assert "http://127.0.0.1:8000/portal/" in page
    assert "No case with reference DSAR-1999-000001." in missing
    assert not Message.objects.exists()  # a preview sends nothing


def test_a_failed_message_shows_on_the_case_page_and_can_be_sent_again_from_the_outbox(
    officer_client, make_case, smtp_server, django_capture_on_commit_callbacks
):
    case = make_case()
    smtp_server.refuse_rcpt = "550 mailbox unavailable"
    message = _queue_ack(case, django_capture_on_commit_callbacks)
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED)

    page = officer_client.get(reverse("admin:cases_case_change", args=[case.pk]))

    assert 'class="pd-pill pd-msg-failed">Failed<' in page.content.decode()
    assert "550 mailbox unavailable" in page.content.decode()
    smtp_server.refuse_rcpt = ""
    with django_capture_on_commit_callbacks(execute=True):
        officer_client.post(reverse("admin:cases_message_changelist"),
                            {"action": "send_again", "_selected_action": [message.pk]})
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert "message.requeued" in [e.action for e in _events(case)]
