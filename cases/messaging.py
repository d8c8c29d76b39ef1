"""Messages to the data subject: templates, rendering, queueing and sending.

The writers here follow `cases.services`: `@transaction.atomic`, a keyword-only `actor`, the
change and its audit event together, the send queued on commit with the message id only. A
message is claimed with a conditional update before the SMTP conversation, so two workers never
both send it; an SMTP failure is rescheduled with backoff (the "Send due messages" schedule
picks it up again) and marked failed, with the server's reason, after `MAX_SEND_ATTEMPTS`.
The audit trail gets the kind, the message id and the body's SHA-256: never address or text.
"""

import datetime as dt
import hashlib
import logging
import re
import smtplib
from collections.abc import Mapping
from pathlib import Path
from string import Formatter

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.mail.message import make_msgid
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from cases import webhooks
from cases.audit import Actor, Pending, record
from cases.choices import MessageKind, MessageStatus, Regulation
from cases.models import Case, DataSubject, Message, MessageTemplate

log = logging.getLogger(__name__)
WORKER = Actor.system("mailer")
MAX_SEND_ATTEMPTS = 5
# A claim older than this has lost its worker (django-q2's task timeout plus a margin).
STALE_CLAIM = dt.timedelta(seconds=settings.Q_CLUSTER["timeout"] + 30)
DEFAULTS_DIR = Path(settings.BASE_DIR) / "templates" / "messages"

# What a template may name, and what each becomes (shown to officers in the admin).
PLACEHOLDERS: dict[str, str] = {
    "reference": "the case reference, e.g. DSAR-2026-000123",
    "regulation": "the law's name, e.g. the EU General Data Protection Regulation (GDPR)",
    "due_date": "the date the answer is due, e.g. 2 January 2027",
    "received_date": "the date the request was received, e.g. 20 November 2026",
    "link": "the subject's personal link (verification or response messages)",
    "reason": "the officer's reason (extension notice, rejection)",
    "name": "the subject's name, when known (empty otherwise)",
}

# Placeholders that only some kinds can fill: an acknowledgement has no link and no reason.
_ONLY_FOR: dict[str, frozenset[str]] = {
    "link": frozenset({MessageKind.VERIFICATION_REQUEST, MessageKind.RESPONSE}),
    "reason": frozenset({MessageKind.EXTENSION_NOTICE, MessageKind.REJECTION}),
}

# The human names the law goes by, for messages; other codes use their label without the code.
REGULATION_NAMES: dict[str, str] = {
    Regulation.GDPR: "the EU General Data Protection Regulation (GDPR)",
    Regulation.CCPA: "the California Consumer Privacy Act (CCPA)",
    Regulation.CPRA_CA_USA: "the California Consumer Privacy Act as amended by the CPRA",
    Regulation.LGPD_BRA: "the Brazilian General Data Protection Law (LGPD)",
    Regulation.NZPA_NZL: "the New Zealand Privacy Act 2020",
    Regulation.PDPA_THA: "the Thai Personal Data Protection Act (PDPA)",
    Regulation.APA_AUS: "the Australian Privacy Act 1988",
    Regulation.QL25_QC_CAN: "Quebec's Act respecting the protection of personal information "
    "in the private sector (Law 25)",
    Regulation.PIPA_KOR: "the Korean Personal Information Protection Act (PIPA)",
    Regulation.HIPAA_USA: "the US Health Insurance Portability and Accountability Act (HIPAA)",
}
_ADDRESS = re.compile(r"[^\s<>@,;:\"']+@[^\s<>@,;:\"']+")


# --------------------------------------------------------------------------- templates


def check_placeholders(text: str, kind: str | None = None) -> str | None:
    """Why `text` cannot be a template of `kind` (naming the placeholder), or None when it can."""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in Formatter().parse(text)
                  if name is not None]
    except ValueError:
        return "A brace is not closed or not opened: write {{ or }} for a literal brace."
    allowed = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    for name, spec, conv in fields:
        if name not in PLACEHOLDERS:
            return f"Unknown placeholder {{{name}}}; use {allowed}."
        if spec or conv:
            return f"Placeholder {{{name}}} takes no format or conversion: write {{{name}}}."
        if kind and name in _ONLY_FOR and kind not in _ONLY_FOR[name]:
            label = MessageKind(kind).label.lower()
            return f"Placeholder {{{name}}} has no value in messages of kind '{label}'."
    return None


def default_text(kind: str) -> tuple[str, str]:
    """The shipped (subject, body) of a kind, from templates/messages/<kind>.txt."""
    text = (DEFAULTS_DIR / f"{kind}.txt").read_text(encoding="utf-8")
    first, _, body = text.partition("\n")
    return first.removeprefix("Subject:").strip(), body.strip() + "\n"


def template_for(kind: str) -> MessageTemplate:
    """The officers' template of a kind, created from the shipped default on first use."""
    if kind not in MessageKind.values:
        raise ValidationError({"kind": f"Unknown message kind '{kind}'."})
    template = MessageTemplate.objects.filter(kind=kind).first()
    if template is None:
        subject, body = default_text(kind)
        template, _ = MessageTemplate.objects.get_or_create(
            kind=kind, defaults={"subject": subject, "body": body}
        )
    return template


@transaction.atomic
def save_template(template: MessageTemplate, *, actor: Actor, fields: list[str]) -> None:
    """Store an officer's edit of a template; refused (ValidationError) if it does not render."""
    template.full_clean()
    template.save()
    record("message_template.changed", actor=actor, obj=template,
           details={"kind": template.kind, "fields": sorted(fields)})


def human_date(day: dt.date) -> str:
    """'2 January 2027': day-month-year in words, never ambiguous."""
    return f"{day.day} {day:%B} {day.year}"


def regulation_name(code: str) -> str:
    if code in REGULATION_NAMES:
        return REGULATION_NAMES[code]
    label = Regulation(code).label if code in Regulation.values else code
    return "the " + label.removesuffix(f" ({code})")


def placeholder_values(
    case: Case, extra: Mapping[str, str] | None = None, *, name: str | None = None
) -> dict[str, str]:
    """The placeholders' values; `name` is the subject's, read from the case when not given."""
    if name is None:
        subject = DataSubject.objects.filter(case=case).only("name").first()
        name = subject.name if subject else ""
    values = {
        "reference": case.reference,
        "regulation": regulation_name(case.regulation),
        "due_date": human_date(case.due_date),
        "received_date": human_date(timezone.localdate(case.received_at)),
        "link": "",
        "reason": case.extension_reason or case.status_reason,
        "name": name,
    }
    values.update({key: str(value) for key, value in (extra or {}).items()})
    return values


def render(template: MessageTemplate, case: Case,
           extra: Mapping[str, str] | None = None, *, name: str | None = None) -> tuple[str, str]:
    """(subject line, body) of `template` for `case`; ValidationError when it cannot be filled."""
    unknown = set(extra or {}) - set(PLACEHOLDERS)
    if unknown:
        raise ValidationError({"extra": f"Unknown placeholder(s): {sorted(unknown)}."})
    values = placeholder_values(case, extra, name=name)
    texts = {"subject": template.subject, "body": template.body}
    for field, text in texts.items():
        problem = check_placeholders(text, template.kind)
        if problem:
            raise ValidationError({field: f"The {template} template: {problem}"})
        for name in ("link", "reason"):
            if f"{{{name}}}" in text and not values[name].strip():
                raise ValidationError(
                    {name: f"The {template} message needs a {name}, and none was given."}
                )
    # Names were checked against PLACEHOLDERS, and every value is a plain string.
    subject = " ".join(texts["subject"].format_map(values).split())
    return subject, texts["body"].format_map(values)


# --------------------------------------------------------------------------- queueing


@transaction.atomic
def queue_message(
    case: Case, kind: str, *, actor: Actor, extra: Mapping[str, str] | None = None
) -> Message:
    """Render the kind's template for the case, store it encrypted, audit it, send on commit."""
    subject_row = DataSubject.objects.filter(case=case).first()
    recipient = (subject_row.email if subject_row else "").strip()
    if not recipient:
        raise ValidationError({"recipient": f"{case.reference} has no contact email to write to."})
    message = _store(case, kind, recipient, extra, name=subject_row.name)
    record("message.queued", actor=actor, case=case, obj=message, details=_audit(message))
    return message


def acknowledgement_at_intake(
    case: Case, *, email: str, name: str, actor: Actor
) -> tuple[Message, Pending] | None:
    """The acknowledgement of a case being created, from the subject just written.

    The caller (`services.create_case`, inside its transaction) appends the returned audit event
    together with its own, so intake writes the chain once.
    """
    if not settings.AUTO_ACKNOWLEDGE or not email.strip():
        return None
    message = _store(case, MessageKind.ACKNOWLEDGEMENT, email.strip(), None, name=name)
    return message, Pending("message.queued", actor, case, message, _audit(message))


def _store(
    case: Case, kind: str, recipient: str, extra: Mapping[str, str] | None, *, name: str
) -> Message:
    """Render, store encrypted, and send once the transaction commits (auditing is the caller's)."""
    subject, body = render(template_for(kind), case, extra, name=name)
    message = Message.objects.create(
        case=case, kind=kind, recipient=recipient, subject=subject, body=body,
        body_sha256=hashlib.sha256(body.encode()).hexdigest(),
    )
    transaction.on_commit(lambda: queue_send(message.pk))
    return message


def acknowledge_on_intake(case: Case, *, actor: Actor) -> Message | None:
    """The acknowledgement at intake, when AUTO_ACKNOWLEDGE is on and the case has an email."""
    if not settings.AUTO_ACKNOWLEDGE:
        return None
    if not DataSubject.objects.filter(case=case).exclude(email="").exists():
        return None
    return queue_message(case, MessageKind.ACKNOWLEDGEMENT, actor=actor)


@transaction.atomic
def resend(message: Message, *, actor: Actor) -> Message:
    """An officer sends a failed message again: a fresh round of attempts, same text."""
    requeued = Message.objects.filter(pk=message.pk, status=MessageStatus.FAILED).update(
        status=MessageStatus.QUEUED, attempts=0, next_attempt_at=None, claimed_at=None,
    )
    if not requeued:
        raise ValidationError({"status": f"Message #{message.pk} has not failed: nothing to do."})
    message.refresh_from_db()
    record("message.requeued", actor=actor, case=message.case, obj=message,
           details=_audit(message))
    transaction.on_commit(lambda: queue_send(message.pk))
    return message


def queue_send(message_id: int) -> None:
    from django_q.tasks import async_task

    async_task("cases.tasks.send_message", message_id, task_name=f"send message {message_id}")


def _audit(message: Message) -> dict[str, object]:
    return {"kind": message.kind, "message_id": message.pk, "body_sha256": message.body_sha256}


# --------------------------------------------------------------------------- sending


def _due() -> Q:
    now = timezone.now()
    return (
        Q(status=MessageStatus.QUEUED)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        & (Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - STALE_CLAIM))
    )


def claim(message_id: int) -> Message | None:
    """Take a due message for sending; None when it is not due or another worker has it."""
    claimed = Message.objects.filter(_due(), pk=message_id).update(
        claimed_at=timezone.now(), attempts=F("attempts") + 1
    )
    return Message.objects.select_related("case").get(pk=message_id) if claimed else None


def deliver(message_id: int) -> str:
    """Send one message through Django's email framework (EMAIL_URL); safe to call twice."""
    message = claim(message_id)
    if message is None:
        return "nothing to do"
    try:
        _send_email(message)
    except (smtplib.SMTPException, OSError) as exc:
        return _failed(message, exc)
    _sent(message)
    return "sent"


def deliver_due() -> str:
    """The worker's schedule: send every message that is due, retries included."""
    results: dict[str, int] = {}
    for message_id in Message.objects.filter(_due()).values_list("pk", flat=True):
        try:
            outcome = deliver(message_id)
        except Exception:  # one broken message must not stop the pass; the log has why
            log.exception("Sending message %s failed unexpectedly", message_id)
            outcome = "error"
        results[outcome] = results.get(outcome, 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(results.items())) or "nothing to do"


def _send_email(message: Message) -> None:
    email = EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        headers={
            "Message-ID": make_msgid(idstring=f"privacy-desk-{message.pk}"),
            "Auto-Submitted": "auto-generated",  # RFC 3834: no out-of-office replies, please
            "X-PrivacyDesk-Reference": message.case.reference,
        },
        connection=get_connection(fail_silently=False),
    )
    if email.send() != 1:
        raise smtplib.SMTPException("The mail backend accepted no recipient.")


def smtp_reason(exc: Exception) -> tuple[str, int | None]:
    """The server's reason and code, with any email address taken out."""
    code = None
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, text = next(iter(exc.recipients.values()))
        reason = f"Recipient refused: {code} {_text(text)}"
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, reason = exc.smtp_code, f"{exc.smtp_code} {_text(exc.smtp_error)}"
    elif isinstance(exc, smtplib.SMTPException):
        reason = str(exc) or type(exc).__name__
    else:
        reason = f"Mail server unreachable: {getattr(exc, 'strerror', None) or exc}"
    return _ADDRESS.sub("[address]", reason)[:500], code


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _backoff(attempts: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 3600))


@transaction.atomic
def _failed(message: Message, exc: Exception) -> str:
    reason, code = smtp_reason(exc)
    details = {**_audit(message), "attempt": message.attempts, "smtp_code": code}
    if message.attempts >= MAX_SEND_ATTEMPTS:
        Message.objects.filter(pk=message.pk).update(
            status=MessageStatus.FAILED, last_error=reason, claimed_at=None, next_attempt_at=None
        )
        record("message.failed", actor=WORKER, case=message.case, obj=message, details=details)
        webhooks.message_failed(message.case, message.pk, message.kind)
        return "failed"
    when = _backoff(message.attempts)
    Message.objects.filter(pk=message.pk).update(
        last_error=f"Attempt {message.attempts} failed, retrying at {when:%Y-%m-%d %H:%M} UTC: "
        f"{reason}",
        claimed_at=None, next_attempt_at=when,
    )
    record("message.attempt_failed", actor=WORKER, case=message.case, obj=message,
           details=details)
    return "retry later"


@transaction.atomic
def _sent(message: Message) -> None:
    now = timezone.now()
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENT, sent_at=now, last_error="", claimed_at=None,
        next_attempt_at=None,
    )
    details = _audit(message)
    if message.kind == MessageKind.ACKNOWLEDGEMENT:
        details["acknowledged"] = bool(
            Case.objects.filter(pk=message.case_id, acknowledged_at__isnull=True)
            .update(acknowledged_at=now)
        )
    record("message.sent", actor=WORKER, case=message.case, obj=message, details=details)
