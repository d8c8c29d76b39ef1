"""The only writers of cases: each function changes state and audits it in one transaction.

Admin actions, API views and management commands call these and stay short. Every function takes
a keyword-only `actor` (see `cases.audit.Actor`) and raises `ValidationError` for bad input or
`TransitionError` for a move the workflow does not allow.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from cases import bulk, deadlines, job_reasons, messaging, routing, vendors, webhooks
from cases.audit import Actor, Pending, lock_chain, record, record_many
from cases.choices import (
    CASE_HOLDABLE,
    CASE_NOTHING_TO_SEND,
    CASE_TERMINAL,
    CASE_UNSUBMITTED,
    JOB_ENDED_WELL,
    JOB_FAILED,
    JOB_RETRYABLE,
    JOB_TERMINAL,
    VERIFICATION_NOTE_REQUIRED,
    Action,
    CaseActions,
    CaseStatus,
    JobStatus,
    MessageKind,
    RejectionReason,
    ResultStatus,
    Vendor,
    VerificationMethod,
)
from cases.crypto import blind_index_candidates, normalise
from cases.models import (
    ApiClient,
    Case,
    DataSubject,
    Identity,
    OutOfBandNotice,
    ReferenceCounter,
    ResultFile,
    TransitionError,
    VendorJob,
)
from cases.validators import (
    receipt_age_error,
    validate_adobe_products,
    validate_identities,
    validate_regulation,
    validate_vendors,
)

# A ticketing system's clock may run slightly ahead of ours.
_CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_VERIFICATION_NOTE = 2000


def _next_reference(year: int) -> str:
    return f"DSAR-{year}-{_next_number(year):06d}"


def _next_number(year: int) -> int:
    """The year's next case number in one statement: an upsert that returns the new value.

    The row lock of the upsert serialises concurrent intakes. SQLite before 3.35 cannot return
    rows from an upsert; there the number takes three statements.
    """
    if not connection.features.can_return_columns_from_insert:
        ReferenceCounter.objects.get_or_create(year=year)
        ReferenceCounter.objects.filter(year=year).update(last=F("last") + 1)
        return ReferenceCounter.objects.values_list("last", flat=True).get(year=year)
    table, last = (connection.ops.quote_name(n) for n in (ReferenceCounter._meta.db_table, "last"))
    # Names are the model's, never input.
    sql = (
        f"INSERT INTO {table} (year, {last}) VALUES (%s, 1) ON CONFLICT (year) "  # noqa: S608
        f"DO UPDATE SET {last} = {table}.{last} + 1 RETURNING {last}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [year])
        return cursor.fetchone()[0]


def _check_received_at(received_at: dt.datetime | None) -> dt.datetime:
    now = timezone.now()
    if received_at is None:
        return now
    if timezone.is_naive(received_at):
        raise ValidationError({"received_at": "Give a time zone (e.g. 2026-11-20T10:00:00Z)."})
    if received_at > now + _CLOCK_SKEW:
        raise ValidationError({"received_at": "The receipt date cannot be in the future."})
    too_old = receipt_age_error(received_at)
    if too_old:
        raise ValidationError({"received_at": too_old})
    return received_at


def _validate_subject(name: str, email: str) -> tuple[str, str]:
    email = (email or "").strip()
    if not email:
        raise ValidationError({"subject": "The subject's contact email is required."})
    try:
        DataSubject._meta.get_field("email").run_validators(email)
    except ValidationError:
        raise ValidationError({"subject": "The subject's email is not a valid address."}) from None
    if len(name or "") > 200:
        raise ValidationError({"subject": "The subject's name is longer than 200 characters."})
    return (name or "").strip(), email


@transaction.atomic
def create_case(
    *,
    actor: Actor,
    regulation: str,
    actions: Iterable[str],
    subject_email: str,
    identities: Iterable[Mapping[str, str]],
    subject_name: str = "",
    received_at: dt.datetime | None = None,
    external_ref: str = "",
    api_client: ApiClient | None = None,
    vendors: Iterable[str] = (),
    adobe_products: Iterable[str] = (),
    acknowledge: bool = False,
) -> Case:
    """Open a case with its subject and identities; the deadline runs from `received_at`.

    `acknowledge` also queues the acknowledgement (when AUTO_ACKNOWLEDGE is on), left on the
    returned case as `case.acknowledgement` (None when none was queued). Everything is written
    once, without reading any of it back: identities in one insert, both audit events in one
    append to the chain.
    """
    validate_regulation(regulation)
    try:
        case_actions = CaseActions.from_list(list(actions))
    except ValueError as exc:
        raise ValidationError({"actions": str(exc)}) from None
    name, email = _validate_subject(subject_name, subject_email)
    cleaned_identities = validate_identities(identities)
    received_at = _check_received_at(received_at)
    received_on = timezone.localdate(received_at)
    due = deadlines.due_date(regulation, received_on)

    case = Case.objects.create(
        # The year the case is opened: a backdated receipt must not reuse last year's series.
        reference=_next_reference(timezone.localdate().year),
        external_ref=external_ref.strip(),
        api_client=api_client,
        regulation=regulation,
        actions=case_actions,
        vendors=validate_vendors(vendors),
        adobe_products=validate_adobe_products(adobe_products),
        received_at=received_at,
        due_date=due,
        original_due_date=due,
        acknowledge_by=deadlines.acknowledge_by(regulation, received_on),
    )
    subject = DataSubject.objects.create(case=case, name=name, email=email)
    rows = [Identity(subject=subject, **identity) for identity in cleaned_identities]
    for row in rows:
        row.set_value_index()
    Identity.objects.bulk_create(rows)
    duplicates = list(
        possible_duplicates(case, email=email).values_list("reference", flat=True)[:10]
    )
    created = Pending(
        "case.created",
        actor,
        case,
        case,
        {
            "regulation": regulation,
            "actions": case.action_list,
            "identity_namespaces": sorted({i["namespace"] for i in cleaned_identities}),
            "identity_count": len(cleaned_identities),
            "due_date": due.isoformat(),
            "external_ref_set": bool(case.external_ref),
            "possible_duplicates": duplicates,
        },
    )
    queued = acknowledge and messaging.acknowledgement_at_intake(
        case, email=email, name=name, actor=actor
    )
    case.acknowledgement = queued[0] if queued else None
    record_many([created, queued[1]] if queued else [created])
    return case


def possible_duplicates(case: Case, *, email: str | None = None):
    """Other open cases for the same subject email (found through the blind index)."""
    if email is None:
        email = DataSubject.objects.only("email").get(case=case).email
    return (
        Case.objects.open()
        .filter(subject__email_index__in=blind_index_candidates(email))
        .exclude(pk=case.pk)
    )


def _lock(case: Case) -> Case:
    return Case.objects.select_for_update().get(pk=case.pk)


def _set_status(case: Case, new_status: str, *, actor: Actor, reason: str = "") -> None:
    """Move a locked case to `new_status` and audit the change."""
    old_status = case.status
    case.status = new_status
    case.status_reason = reason
    case.status_changed_at = timezone.now()
    case.save()
    record(
        "case.status_changed",
        actor=actor,
        case=case,
        obj=case,
        details={"from": old_status, "to": new_status},
    )
    # Written in this transaction, POSTed on commit: the client hears of committed changes only.
    webhooks.status_changed(case, old_status, new_status)


def _require_reason(reason: str, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": f"A reason is required to {what}."})
    return reason


def check_verification(method: str, note: str) -> tuple[str, str]:
    """The method and trimmed note of a verification, or a ValidationError per field."""
    if method not in VerificationMethod.values:
        raise ValidationError({"method": (
            f"Unknown verification method '{method}'; use one of "
            f"{', '.join(VerificationMethod.values)}."
        )})
    note = (note or "").strip()
    if method in VERIFICATION_NOTE_REQUIRED and not note:
        what = "what was checked (which document, and how)" if (
            method == VerificationMethod.DOCUMENT) else "how the identity was checked"
        raise ValidationError({"note": f"Method '{method}' needs a note saying {what}."})
    if len(note) > MAX_VERIFICATION_NOTE:
        raise ValidationError({"note": f"Keep the note under {MAX_VERIFICATION_NOTE} characters."})
    return method, note


@transaction.atomic
def verify_identity(
    case: Case,
    *,
    actor: Actor,
    method: str,
    note: str = "",
    submit_when_confirmed: bool = False,
    evidence: UploadedFile | None = None,
) -> Case:
    """Record how the subject's identity was checked, by whom and with what evidence (a note,
    and optionally a file such as the checked ID document, kept as an encrypted attachment).

    `email_link` verifies nothing yet: it emails the subject a link (`cases.verification`) and
    the case stays new until they press Confirm; with `submit_when_confirmed` it then goes to
    the vendors by itself.
    """
    from cases import notes  # notes imports models only; imported here to keep services light

    method, note = check_verification(method, note)
    if method == VerificationMethod.EMAIL_LINK:
        if evidence is not None:
            raise ValidationError({"evidence": "An email link needs no file: the subject's "
                                   "confirmation is the evidence."})
        from cases import verification  # builds on this module

        verification.send_link(case, actor=actor, submit_when_confirmed=submit_when_confirmed)
        return Case.objects.get(pk=case.pk)
    if evidence is None:
        return record_verification(case, actor=actor, method=method, note=note)
    notes.read_upload(evidence)  # a refused file is reported before anything changes
    case = record_verification(case, actor=actor, method=method, note=note,
                               details={"evidence_file": True})
    notes.add_attachment(case, actor=actor, upload=evidence)
    return case


@transaction.atomic
def record_verification(
    case: Case, *, actor: Actor, method: str, note: str = "",
    details: Mapping[str, object] | None = None,
) -> Case:
    """Mark the case verified with its evidence; any verification link still out is revoked."""
    case = _lock(case)
    case.check_transition(CaseStatus.VERIFIED)
    case.verified_at = timezone.now()
    case.verification_method = method
    case.verification_note = note
    case.verified_by = actor.label or actor.type
    _set_status(case, CaseStatus.VERIFIED, actor=actor)
    record("case.identity_verified", actor=actor, case=case, obj=case,
           details={"method": method, "note_given": bool(note), **(details or {})})
    from cases import verification

    verification.revoke_links(case, actor=actor, reason="verified")
    return case


@transaction.atomic
def put_on_hold(case: Case, *, actor: Actor, reason: str) -> Case:
    """Pause the legal clock (e.g. waiting for the subject to prove identity)."""
    reason = _require_reason(reason, "put a case on hold")
    case = _lock(case)
    if case.status not in CASE_HOLDABLE:
        raise TransitionError(
            f"Case {case.reference} is {case.get_status_display().lower()}: "
            "only a case whose clock is running can be put on hold."
        )
    today = timezone.localdate()
    case.hold_started_on = today
    case.hold_days_remaining = deadlines.remaining_on_hold(case.regulation, case.due_date, today)
    case.status_before_hold = case.status
    _set_status(case, CaseStatus.ON_HOLD, actor=actor, reason=reason)
    record(
        "case.put_on_hold",
        actor=actor,
        case=case,
        obj=case,
        details={"days_remaining": case.hold_days_remaining},
    )
    return case


@transaction.atomic
def resume(case: Case, *, actor: Actor) -> Case:
    """Restart the clock with the days that were left when the hold began."""
    case = _lock(case)
    if case.status != CaseStatus.ON_HOLD:
        raise TransitionError(f"Case {case.reference} is not on hold.")
    today = timezone.localdate()
    old_due = case.due_date
    case.due_date = deadlines.resume_due_date(case.regulation, today, case.hold_days_remaining)
    previous = case.status_before_hold or CaseStatus.NEW
    held_days = (today - case.hold_started_on).days if case.hold_started_on else 0
    case.hold_started_on = None
    case.hold_days_remaining = None
    case.status_before_hold = ""
    _set_status(case, previous, actor=actor)
    record(
        "case.resumed",
        actor=actor,
        case=case,
        obj=case,
        details={
            "held_days": held_days,
            "old_due_date": old_due.isoformat(),
            "due_date": case.due_date.isoformat(),
        },
    )
    return case


@transaction.atomic
def extend_deadline(
    case: Case, *, actor: Actor, reason: str, until: dt.date | None = None,
    told_out_of_band: str = "",
) -> Case:
    """Extend the deadline once, by at most what the law allows (to `until` if given), and tell
    the subject: the extension notice with the reason, or the officer's note of how they were
    told another way (`told_out_of_band`)."""
    reason = _require_reason(reason, "extend a deadline")
    case = _lock(case)
    if case.status in CASE_TERMINAL or case.status == CaseStatus.COMPLETED:
        raise TransitionError(f"Case {case.reference} has been answered; nothing to extend.")
    if case.status == CaseStatus.ON_HOLD:
        # Resuming rebuilds the due date from the days left at the hold, which would drop it.
        raise TransitionError(f"Case {case.reference} is on hold: resume it before extending.")
    if case.extended_at:
        raise TransitionError(f"The deadline of {case.reference} has already been extended once.")
    try:
        longest = deadlines.extended_due_date(
            case.regulation, timezone.localdate(case.received_at), case.due_date
        )
    except deadlines.DeadlineError as exc:
        raise TransitionError(str(exc)) from None
    new_due = until or longest
    if not case.due_date < new_due <= longest:
        raise ValidationError(
            {"until": f"Choose a date after {case.due_date} and no later than {longest}."}
        )
    old_due = case.due_date
    case.due_date = new_due
    case.extended_at = timezone.now()
    case.extension_reason = reason
    case.save()
    record(
        "case.deadline_extended",
        actor=actor,
        case=case,
        obj=case,
        details={"old_due_date": old_due.isoformat(), "due_date": new_due.isoformat()},
    )
    tell_subject(case, MessageKind.EXTENSION_NOTICE, actor=actor, reason=reason,
                 told_out_of_band=told_out_of_band)
    return case


@transaction.atomic
def reject(
    case: Case, *, actor: Actor, reason: str, code: str = RejectionReason.OTHER,
    told_out_of_band: str = "",
) -> Case:
    """Refuse the request and tell the subject why: the rejection message with the reason, or
    the officer's note of how they were told another way (`told_out_of_band`)."""
    reason = _require_reason(reason, "reject a case")
    if code not in RejectionReason.values:
        raise ValidationError({"code": f"Unknown rejection reason '{code}'."})
    case = _lock(case)
    case.check_transition(CaseStatus.REJECTED)
    case.rejection_code = code
    case.closed_at = timezone.now()
    _set_status(case, CaseStatus.REJECTED, actor=actor, reason=reason)
    record("case.rejected", actor=actor, case=case, obj=case, details={"reason_code": code})
    tell_subject(case, MessageKind.REJECTION, actor=actor, reason=reason,
                 told_out_of_band=told_out_of_band)
    return case


def tell_subject(
    case: Case, kind: str, *, actor: Actor, reason: str, told_out_of_band: str = ""
) -> None:
    """Queue the `kind` message with `{reason}`, or keep the officer's note that the subject was
    told another way (encrypted; the audit trail gets the kind only). Inside the caller's
    transaction: a message that cannot be written (no contact email) undoes the step."""
    note = (told_out_of_band or "").strip()
    if not note:
        messaging.queue_message(case, kind, actor=actor, extra={"reason": reason})
        return
    notice = OutOfBandNotice.objects.create(
        case=case, kind=kind, note=note, recorded_by=actor.label or actor.type
    )
    record("case.subject_told_out_of_band", actor=actor, case=case, obj=notice,
           details={"kind": kind})



@transaction.atomic
def edit_subject(case: Case, save: Callable[[], Mapping[str, object]], *, actor: Actor) -> None:
    """Apply an officer's validated edit of the subject or identities.

    `save` writes the edit and returns what to audit: field names and counts, never values.
    Only while the case is new or verified: once submitted, the vendors hold the identities as
    they were. The case row is locked, so a submission cannot slip in between this check and the
    write.
    """
    case = _lock(case)
    if case.status not in CASE_UNSUBMITTED:
        raise TransitionError(
            f"{case.reference} is {case.get_status_display().lower()}: its subject and identities "
            "went to the vendors as they were and can no longer be edited."
        )
    details = save()
    record("subject.updated", actor=actor, case=case, obj=case, details=dict(details))


def follow_contact_email(
    subject: DataSubject, *, old_email: str, new_email: str
) -> dict[str, int]:
    """Give the subject's `email` identities that held the old contact email the new one.

    The contact email and the email identity are one fact unless an officer says otherwise, so
    an edit of the one carries the other. For an edit's `save` inside `edit_subject` (the case is
    locked). Values are compared normalised (trimmed, case-folded). An identity already holding
    the new address is kept and the stale one removed, so the case never lists it twice.
    Returns the counts to audit.
    """
    old, new = normalise(old_email), normalise(new_email)
    emails = [i for i in Identity.objects.filter(subject=subject) if i.namespace.lower() == "email"]
    stale = [i for i in emails if normalise(i.value) == old and i.value != new_email]
    counts = {"identities_changed": 0, "identities_removed": 0}
    if old != new and any(normalise(i.value) == new for i in emails):
        for identity in stale:
            identity.delete()
        counts["identities_removed"] = len(stale)
        return counts
    for identity in stale:
        identity.value = new_email
        identity.save()
    counts["identities_changed"] = len(stale)
    return counts


@transaction.atomic
def update_routing(
    case: Case,
    *,
    actor: Actor,
    vendors: Iterable[str],
    adobe_products: Iterable[str],
    id5_jurisdiction: str,
) -> Case:
    """Choose vendors, Adobe products and an ID5 jurisdiction before the case is submitted."""
    case = _lock(case)
    if case.status not in CASE_UNSUBMITTED:
        raise TransitionError(
            f"Case {case.reference} has gone to the vendors: its routing can no longer change."
        )
    if id5_jurisdiction not in ("", "GDPR", "CCPA"):
        raise ValidationError({"id5_jurisdiction": "ID5 knows only GDPR and CCPA."})
    case.vendors = validate_vendors(vendors)
    case.adobe_products = validate_adobe_products(adobe_products)
    case.id5_jurisdiction = id5_jurisdiction
    case.save()
    record(
        "case.routing_changed",
        actor=actor,
        case=case,
        obj=case,
        details={"vendors": case.vendors, "adobe_products": case.adobe_products,
                 "id5_jurisdiction": case.id5_jurisdiction},
    )
    return case


@transaction.atomic
def assign(case: Case, *, actor: Actor, assignee) -> Case:
    """Give the case to an officer (or take it back with `assignee=None`)."""
    case = _lock(case)
    if not case.is_open:
        raise TransitionError(f"Case {case.reference} is {case.status}: it cannot be reassigned.")
    if assignee is not None and not officers().filter(pk=assignee.pk).exists():
        raise ValidationError(
            {"assignee": f"{assignee.get_username()} may not work cases (an auditor, an inactive "
             "or a non-staff user): cases go only to officers who may change them."}
        )
    case.assignee = assignee
    case.save()
    record(
        "case.assigned",
        actor=actor,
        case=case,
        obj=case,
        details={"assignee_id": assignee.pk if assignee else None},
    )
    return case


@transaction.atomic
def close(
    case: Case,
    *,
    actor: Actor,
    note: str = "",
    delivered_out_of_band: str = "",
    confirm_failed_deletes: bool = False,
    failed_delete_reason: str = "",
) -> Case:
    """Record that the response has been delivered to the subject.

    Closing needs a sent response (`cases.responses`) or the officer's note of how it was
    delivered another way (`delivered_out_of_band`, kept encrypted as a notice given another
    way). A case whose delete failed (README, "Responding") closes only when the officer ticks
    the confirmation and says why. The reason is kept on the case (status_reason) and not in the
    audit details, since an officer may write personal data in it; the audit holds the job ids.
    """
    from cases import responses  # builds on this module

    case = _lock(case)
    case.check_transition(CaseStatus.CLOSED)
    delivered = (delivered_out_of_band or "").strip()
    sent = responses.was_sent(case)
    if not sent and not delivered:
        raise ValidationError({"delivered_out_of_band": (
            f"{case.reference} has no sent response: send it (Send response), or record how "
            "the response reached the subject another way, e.g. 'handed over in person on "
            "2 January 2027'."
        )})
    failed = failed_deletes(case)
    reasons = [note.strip()]
    if failed:
        why = _confirm_failed_deletes(failed, confirm_failed_deletes, failed_delete_reason)
        reasons.append(f"Closed although {_job_labels(failed)} failed: {why}")
    if delivered:
        tell_subject(case, MessageKind.RESPONSE, actor=actor, reason="",
                     told_out_of_band=delivered)
    case.closed_at = timezone.now()
    _set_status(case, CaseStatus.CLOSED, actor=actor, reason="\n".join(filter(None, reasons)))
    details = {"response": "sent" if sent else "out_of_band"}
    if failed:
        details |= {"failed_delete_jobs": [job.pk for job in failed], "confirmed": True}
    record("case.closed", actor=actor, case=case, obj=case, details=details)
    return case


def failed_deletes(case: Case) -> list[VendorJob]:
    """The case's delete jobs that ended in error, partially or cancelled."""
    return list(case.jobs.filter(action=Action.DELETE, status__in=JOB_FAILED).order_by("pk"))


def _job_labels(jobs: Iterable[VendorJob]) -> str:
    return ", ".join(
        f"the {job.get_vendor_display()} delete ({job.get_status_display().lower()})"
        for job in jobs
    )


def _confirm_failed_deletes(failed: list[VendorJob], confirmed: bool, reason: str) -> str:
    if not confirmed:
        raise ValidationError({"confirm_failed_deletes": (
            f"The delete did not succeed: {_job_labels(failed)}. Retry it, or tick the "
            "confirmation and give a reason to close the case anyway."
        )})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"failed_delete_reason": (
            "Give the reason for closing a case whose delete failed."
        )})
    return reason


def officers():
    """Users who may work cases, so may be assigned one: active staff holding cases.change_case
    (the Compliance officer group, or superusers); auditors only read."""
    holders = Permission.objects.filter(codename="change_case", content_type__app_label="cases")
    return (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(
            Q(is_superuser=True)
            | Q(user_permissions__in=holders)
            | Q(groups__permissions__in=holders)
        )
        .distinct()
        .order_by("username")
    )


# --------------------------------------------------------------------------- vendor jobs


@transaction.atomic
def submit_case(case: Case, *, actor: Actor) -> Case:
    """Plan the case into vendor jobs and queue them; a resubmission adds only missing jobs.

    Refused, with nothing written, when nothing is left to send (README, REST API: submit → 409),
    and for a case not yet verified: vendors receive only verified cases.
    """
    case = _lock(case)
    if case.status in CASE_NOTHING_TO_SEND:
        raise TransitionError(
            f"Case {case.reference} is {case.get_status_display().lower()}: nothing is left to "
            "send to the vendors."
        )
    if case.status == CaseStatus.NEW:
        raise TransitionError(
            f"Case {case.reference} is new: vendors receive only verified cases. Verify the "
            "subject's identity first."
        )
    if case.status != CaseStatus.IN_PROGRESS:
        case.check_transition(CaseStatus.IN_PROGRESS)
    new_jobs, waiting = planned_submission(case)
    if not new_jobs and not waiting:
        raise TransitionError(
            f"Case {case.reference} has nothing left to send: every vendor job has been sent "
            "already. A failed job is sent again by an officer with 'Retry failed jobs'."
        )
    for planned in new_jobs:
        _create_job(case, planned, actor=actor)
    if case.status != CaseStatus.IN_PROGRESS:
        _set_status(case, CaseStatus.IN_PROGRESS, actor=actor)
    record("case.submitted", actor=actor, case=case, obj=case)
    refresh_case_status(case)
    transaction.on_commit(queue_sending)
    return case


@transaction.atomic
def vouch_and_submit(case: Case, *, actor: Actor) -> Case:
    """The API's submit: a caller that sends a new case on vouches for the subject
    (`ticketing_system`, README "REST API"), unless the case waits for the subject's own
    confirmation of an email link, which no caller may skip."""
    case = _lock(case)
    if case.status == CaseStatus.NEW:
        if case.verification_method == VerificationMethod.EMAIL_LINK:
            then = " and is then submitted by itself" if case.submit_on_verify else ""
            raise TransitionError(
                f"Case {case.reference} waits for the subject to confirm the verification link "
                f"emailed to them{then}: vendors receive only verified cases."
            )
        case = record_verification(case, actor=actor, method=VerificationMethod.TICKETING_SYSTEM)
    return submit_case(case, actor=actor)


def planned_submission(case: Case) -> tuple[list[routing.PlannedJob], list[VendorJob]]:
    """What a submission would do: the jobs routing adds, and the case's jobs still waiting to
    be sent (pending, not stopped by an error: sending a failed job again is a retry)."""
    existing = set(case.jobs.values_list("vendor", "action"))
    new_jobs = [p for p in routing.plan_case(case) if (p.vendor, p.action) not in existing]
    waiting = case.jobs.filter(status=JobStatus.PENDING).filter(
        Q(last_error="") | Q(next_attempt_at__isnull=False)
    )
    return new_jobs, list(waiting)


def has_something_to_send(case: Case) -> bool:
    """Whether `submit_case` would send anything (the Submit button shows only then)."""
    if case.status in CASE_NOTHING_TO_SEND:
        return False
    new_jobs, waiting = planned_submission(case)
    return bool(new_jobs or waiting)


def vendors_asked_to_delete(case: Case) -> list[str]:
    """Labels of the vendors a submission would ask to delete the subject's data."""
    new_jobs, waiting = planned_submission(case)
    codes = {p.vendor for p in new_jobs if p.action == Action.DELETE and
             p.status == JobStatus.PENDING}
    codes |= {job.vendor for job in waiting if job.action == Action.DELETE}
    return sorted(Vendor(code).label for code in codes)


def _create_job(case: Case, planned: routing.PlannedJob, *, actor: Actor) -> VendorJob:
    products, added = routing.with_cjm_upstream(planned.products, planned.action)
    job = VendorJob.objects.create(
        case=case,
        vendor=planned.vendor,
        action=planned.action,
        status=planned.status,
        products=products,
        jurisdiction=planned.jurisdiction,
        last_error=planned.reason or vendors.not_configured_reason(planned.vendor),
        completed_at=timezone.now() if planned.status == JobStatus.NOT_APPLICABLE else None,
    )
    details = {"vendor": job.vendor, "action": job.action, "status": job.status}
    if added:
        # Journey Optimizer rule (docs/vendors.md [JO-PRIVACY]): without these the CJM delete
        # never finishes.
        details["products_added_for_cjm"] = list(added)
    record("job.created", actor=actor, case=case, obj=job, details=details)
    return job


def queue_sending() -> None:
    from django_q.tasks import async_task

    async_task("cases.tasks.send_when_due", task_name="send pending vendor jobs")


SEND_WINDOW_SCHEDULE = "Send Adobe batch"


def schedule_sending(when: dt.datetime) -> None:
    """Have the worker's scheduler run a send pass at `when` (the end of an Adobe send window):
    one pending one-off schedule at a time, moved earlier if needed, deleted once it has run."""
    from django_q.models import Schedule

    scheduled = Schedule.objects.filter(name=SEND_WINDOW_SCHEDULE).first()
    if scheduled is None:
        Schedule.objects.create(
            name=SEND_WINDOW_SCHEDULE, func="cases.tasks.send_pending_jobs",
            schedule_type=Schedule.ONCE, next_run=when,
        )
    elif scheduled.next_run > when:
        Schedule.objects.filter(pk=scheduled.pk).update(next_run=when)


def _job_problem(job: VendorJob) -> str | None:
    """Why this job needs an officer, or None."""
    label = f"{job.get_vendor_display()} {job.action}"
    if job.status in JOB_FAILED:
        # Rows written before every problem carried its reason still get one.
        reason = job.last_error or job_reasons.problem_reason(job)
        return f"{label}: {job.get_status_display().lower()} — {reason}"
    if job.status == JobStatus.MANUAL:
        return f"{label}: manual task — {job.last_error or 'mark it done when handled'}"
    if job.result_status == ResultStatus.REJECTED:
        return f"{label}: result file rejected — {job.last_error}"
    if job.status == JobStatus.PENDING and job.last_error and not job.next_attempt_at:
        return f"{label}: not sent — {job.last_error}"
    return None


def _job_done(job: VendorJob) -> bool:
    return job.status in JOB_ENDED_WELL and job.result_status != ResultStatus.PENDING


def refresh_case_status(case: Case) -> None:
    """Let the case status follow its jobs: all ended well, any problem, or still running.

    Officers' statuses (new, verified, on hold, ended) are left alone.
    """
    if case.status not in _FOLLOWS_JOBS:
        return
    status, reason = _status_from_jobs(list(case.jobs.all()))
    if (status, reason) != (case.status, case.status_reason):
        _set_status(case, status, actor=Actor.system("workflow"), reason=reason)


_FOLLOWS_JOBS = (CaseStatus.IN_PROGRESS, CaseStatus.ACTION_REQUIRED, CaseStatus.COMPLETED)


def _status_from_jobs(jobs: list[VendorJob]) -> tuple[str, str]:
    problems = [p for p in map(_job_problem, jobs) if p]
    if problems:
        return CaseStatus.ACTION_REQUIRED, "; ".join(problems)
    if jobs and all(map(_job_done, jobs)):
        return CaseStatus.COMPLETED, ""
    return CaseStatus.IN_PROGRESS, ""


def _refresh_case_statuses(case_ids: Iterable[int], *,
                           locked: Iterable[VendorJob] = ()) -> list[Pending]:
    """One status refresh per case for a batch of job changes: cases locked in one query (in
    id order, so two passes cannot deadlock), their jobs read in one more, the changed ones
    written in one UPDATE and their webhooks in one insert. Returns the audit events for the
    caller's batch.

    `locked` are jobs this transaction has locked and written: they are current as they are,
    so only the cases' other jobs are read.
    """
    cases = list(Case.objects.select_for_update().filter(pk__in=set(case_ids),
                                                          status__in=_FOLLOWS_JOBS).order_by("pk"))
    jobs: dict[int, list[VendorJob]] = {case.pk: [] for case in cases}
    known = {job.pk: job for job in locked if job.case_id in jobs}
    for job in known.values():
        jobs[job.case_id].append(job)
    for job in VendorJob.objects.filter(case__in=cases).exclude(pk__in=known).select_related(None):
        jobs[job.case_id].append(job)
    for case_jobs in jobs.values():
        case_jobs.sort(key=lambda job: (job.vendor, job.action))  # as VendorJob.Meta.ordering
    events, changed, now, actor = [], [], timezone.now(), Actor.system("workflow")
    for case in cases:
        status, reason = _status_from_jobs(jobs[case.pk])
        if (status, reason) == (case.status, case.status_reason):
            continue
        changed.append((case, case.status))
        events.append(Pending("case.status_changed", actor, case, case,
                              {"from": case.status, "to": status}))
        case.status, case.status_reason, case.status_changed_at = status, reason, now
        case.updated_at = now
    bulk.update_rows([case for case, _ in changed],
                     ["status", "status_reason", "status_changed_at", "updated_at"])
    webhooks.statuses_changed(changed)
    return events


@transaction.atomic
def update_job(job: VendorJob, *, actor: Actor | None = None, **changes) -> VendorJob:
    """Apply changes to a job (from a worker), audit a status change, and refresh its case."""
    job = VendorJob.objects.select_for_update().get(pk=job.pk)
    old_status = job.status
    changed = _set_job_fields(job, changes)
    if not changed:
        return job
    job.save(update_fields=[*changed, "updated_at"])
    if job.status != old_status:
        record(
            "job.status_changed",
            actor=actor or Actor.system("worker"),
            case=job.case,
            obj=job,
            details={"vendor": job.vendor, "action": job.action, "from": old_status,
                     "to": job.status, "vendor_status": job.vendor_status},
        )
    refresh_case_status(_lock(job.case))
    return job


def _set_job_fields(job: VendorJob, changes: Mapping[str, object]) -> list[str]:
    """Apply `changes` (and what follows from them) to `job`; the names of fields that changed."""
    changed = [name for name, value in changes.items() if getattr(job, name) != value]
    for name in changed:
        setattr(job, name, changes[name])
    if job.status in JOB_TERMINAL and not job.completed_at:
        job.completed_at = timezone.now()
        changed.append("completed_at")
    if job.status in JOB_FAILED and not job.last_error:
        # Whatever ended the job badly, the officer gets the vendor's words and a next step.
        job.last_error = job_reasons.problem_reason(job)
        changed.append("last_error")
    return list(dict.fromkeys(changed))


@transaction.atomic
def apply_job_changes(
    updates: Iterable[tuple[VendorJob, Mapping[str, object]]], *, actor: Actor | None = None,
    touched: Iterable[int] = (),
) -> list[VendorJob]:
    """A sync pass's writes in one go: each job's changed fields only, one audit batch, and one
    status refresh per case. `touched` are ids of jobs read unchanged (their last_synced_at).

    A job is written only if its status and result are still what the pass read (an officer's
    retry or another worker may have moved it meanwhile): no lock is held across the vendor
    calls, and a skipped job is simply read again by the next pass. The jobs to write are locked
    in one query (id order, as two passes would take them) and written by one UPDATE per set of
    changed fields, however many jobs share it.
    """
    actor, now, updates = actor or Actor.system("worker"), timezone.now(), list(updates)
    read = {job.pk: (job.status, job.result_status) for job, changes in updates if changes}
    current = {pk: (status, result) for pk, status, result in VendorJob.objects
               .select_for_update().filter(pk__in=read).order_by("pk")
               .values_list("pk", "status", "result_status")}
    applied, events = [], []
    by_fields: dict[tuple[str, ...], list[VendorJob]] = defaultdict(list)
    for job, changes in updates:
        if job.pk not in read or current.get(job.pk) != read[job.pk]:
            continue  # nothing to write, or moved since the pass read it
        read_status = job.status
        changed = _set_job_fields(job, changes)
        if not changed:
            continue
        job.updated_at = now
        by_fields[tuple(sorted(changed))].append(job)
        applied.append(job)
        if job.status != read_status:
            events.append(Pending("job.status_changed", actor, job.case, job, {
                "vendor": job.vendor, "action": job.action, "from": read_status,
                "to": job.status, "vendor_status": job.vendor_status}))
    for fields, jobs in by_fields.items():
        bulk.update_rows(jobs, [*fields, "updated_at"])
    touched = list(touched)
    if touched:
        VendorJob.objects.filter(pk__in=touched).update(last_synced_at=now)
    # The chain lock before the case locks, in the order update_job takes them (job, chain,
    # case), so a pass and a single update cannot deadlock.
    lock_chain()
    record_many(events)
    record_many(_refresh_case_statuses((job.case_id for job in applied), locked=applied))
    return applied


def claim_job(job: VendorJob) -> bool:
    """Mark a pending job `sending` before its HTTP call; False if another worker has it."""
    claimed = VendorJob.objects.filter(pk=job.pk, status=JobStatus.PENDING).update(
        status=JobStatus.SENDING,
        sending_started_at=timezone.now(),
        attempts=F("attempts") + 1,
        last_error="",
        next_attempt_at=None,
    )
    if claimed:
        record(
            "job.status_changed",
            actor=Actor.system("worker"),
            case=job.case,
            obj=job,
            details={"vendor": job.vendor, "action": job.action, "from": JobStatus.PENDING,
                     "to": JobStatus.SENDING},
        )
    return bool(claimed)


@transaction.atomic
def retry_job(job: VendorJob, *, actor: Actor) -> VendorJob:
    """Send a failed, partial or flagged job again."""
    job = VendorJob.objects.select_for_update().get(pk=job.pk)
    if job.vendor == Vendor.ID5 and job.action == "access":
        raise TransitionError("ID5 has no access API: mark the manual task done instead.")
    if not job_needs_retry(job):
        raise TransitionError(f"The {job} job is {job.status}: nothing to retry.")
    if job.result_status == ResultStatus.REJECTED:
        changes = {"result_status": ResultStatus.PENDING, "last_error": ""}
    else:
        changes = {"status": JobStatus.PENDING, "last_error": "", "next_attempt_at": None,
                   "result_status": ResultStatus.NONE}
    record("job.retried", actor=actor, case=job.case, obj=job,
           details={"vendor": job.vendor, "action": job.action})
    job = update_job(job, actor=actor, **changes)
    case = _lock(job.case)
    if case.status == CaseStatus.COMPLETED:
        _set_status(case, CaseStatus.IN_PROGRESS, actor=actor)
    if changes.get("result_status") == ResultStatus.PENDING:
        transaction.on_commit(lambda: queue_download(job.pk))
    else:
        transaction.on_commit(queue_sending)
    return job


def job_needs_retry(job: VendorJob) -> bool:
    """Whether an officer's retry would do something for this job."""
    if job.vendor == Vendor.ID5 and job.action == "access":
        return False  # a manual task by nature, never sent
    if job.result_status == ResultStatus.REJECTED:
        return True
    if job.status == JobStatus.PENDING:
        return bool(job.last_error) and job.next_attempt_at is None
    return job.status in JOB_RETRYABLE


def retry_failed_jobs(case: Case, *, actor: Actor) -> int:
    """Retry every job of the case that failed, was flagged, or had its result refused."""
    jobs = [job for job in case.jobs.all() if job_needs_retry(job)]
    if not jobs:
        raise TransitionError(f"{case.reference} has no failed job to retry.")
    for job in jobs:
        retry_job(job, actor=actor)
    return len(jobs)


@transaction.atomic
def request_sync(case: Case, *, actor: Actor) -> None:
    """An officer asks for a status sync now instead of waiting for the schedule."""
    record("case.sync_requested", actor=actor, case=case, obj=case)

    def queue() -> None:
        from django_q.tasks import async_task

        async_task("cases.tasks.sync_vendor_jobs", task_name="sync vendor jobs (requested)")

    transaction.on_commit(queue)


@transaction.atomic
def complete_manual_job(
    job: VendorJob, *, actor: Actor, note: str, attachment: UploadedFile | None = None
) -> VendorJob:
    """Record that an officer did a job's work outside any API (e.g. ID5 access by email),
    with the vendor's answer as an attachment of the case linked to the job, if given."""
    from cases import notes  # notes imports models only; imported here to keep services light

    note = _require_reason(note, "mark a manual job done")
    if attachment is not None:
        notes.read_upload(attachment)  # a refused file is reported before anything changes
    job = VendorJob.objects.select_for_update().get(pk=job.pk)
    if job.status != JobStatus.MANUAL:
        raise TransitionError(f"The {job} job is not a manual task.")
    record("job.manual_done", actor=actor, case=job.case, obj=job,
           details={"vendor": job.vendor, "action": job.action})
    job = update_job(job, actor=actor, status=JobStatus.COMPLETE, note=note, last_error="")
    if attachment is not None:
        notes.add_attachment(job.case, actor=actor, upload=attachment, job=job)
    return job


@transaction.atomic
def request_record_delete(case: Case, *, actor: Actor) -> VendorJob:
    """Queue an Adobe Data Hygiene record delete (data minimisation, not a DSAR channel)."""
    case = _lock(case)
    if "delete" not in case.action_list:
        raise TransitionError(f"{case.reference} is not a delete request.")
    if case.status in CASE_TERMINAL:
        raise TransitionError(f"{case.reference} is {case.status}.")
    reason = vendors.not_configured_reason(Vendor.ADOBE_HYGIENE)
    if reason:
        raise TransitionError(reason)
    if case.jobs.filter(vendor=Vendor.ADOBE_HYGIENE).exists():
        raise TransitionError(f"{case.reference} already has a Data Hygiene record delete.")
    job = VendorJob.objects.create(case=case, vendor=Vendor.ADOBE_HYGIENE, action="delete")
    record("job.created", actor=actor, case=case, obj=job,
           details={"vendor": job.vendor, "action": job.action, "status": job.status})
    if case.status == CaseStatus.COMPLETED:
        _set_status(case, CaseStatus.IN_PROGRESS, actor=actor)
    transaction.on_commit(queue_sending)
    return job


def queue_download(job_id: int) -> None:
    from django_q.tasks import async_task

    async_task("cases.tasks.download_result", job_id, task_name=f"download result of job {job_id}")


def queue_downloads(job_ids: list[int]) -> None:
    """One task downloading the results of a few jobs (a sync pass queues its finds this way)."""
    from django_q.tasks import async_task

    if len(job_ids) == 1:
        queue_download(job_ids[0])
        return
    async_task("cases.tasks.download_results", job_ids,
               task_name=f"download results of jobs {job_ids[0]}–{job_ids[-1]} ({len(job_ids)})")


@dataclass(frozen=True)
class FetchedResult:
    """A result file downloaded and checked, waiting to be attached to its job."""

    job: VendorJob
    path: Path
    name: str
    size: int
    sha256: str
    entries: list[dict]


@transaction.atomic
def attach_result(
    job: VendorJob, path, *, name: str, size: int, sha256: str, entries: list[dict]
) -> ResultFile | None:
    """Store a checked result file and attach it to the job and case (once)."""
    attached = attach_results([FetchedResult(job, Path(path), name, size, sha256, entries)])
    return attached[0] if attached else None


@transaction.atomic
def attach_results(fetched: list[FetchedResult]) -> list[ResultFile]:
    """Store checked result files and attach each to its job and case, once: the jobs locked
    in one query, one audit batch, and one status refresh per case."""
    if not fetched:
        return []
    locked = VendorJob.objects.select_for_update().select_related("case").in_bulk(
        [item.job.pk for item in fetched])
    now, actor = timezone.now(), Actor.system("worker")
    results, events = [], []
    for item in fetched:
        job = locked.get(item.job.pk)
        if job is None or job.result_status == ResultStatus.ATTACHED:
            continue  # gone, or another worker got there first
        result = ResultFile(
            case=job.case, job=job, name=item.name, size=item.size, sha256=item.sha256,
            entries=item.entries, downloaded_at=now,
            purge_after=now + dt.timedelta(days=settings.RESULT_RETENTION_DAYS),
        )
        with open(item.path, "rb") as handle:
            result.file.save(item.name, File(handle), save=False)
        result.save()
        changed = _set_job_fields(job, {"result_status": ResultStatus.ATTACHED, "last_error": ""})
        VendorJob.objects.filter(pk=job.pk).update(
            updated_at=now, **{name: getattr(job, name) for name in changed})
        events.append(Pending("result.attached", actor, job.case, result, {
            "job_id": job.pk, "size": item.size, "sha256": item.sha256,
            "entry_count": len(item.entries)}))
        results.append(result)
    lock_chain()  # before the case locks, as update_job takes them
    record_many(events)
    record_many(_refresh_case_statuses(result.case_id for result in results))
    return results


def record_result_download(result: ResultFile, *, actor: Actor) -> None:
    """Every download of a result file (personal data) is audited."""
    record(
        "result.downloaded", actor=actor, case=result.case, obj=result,
        details={"sha256": result.sha256, "size": result.size},
    )


def purge_expired_results() -> int:
    """Delete stored files past `purge_after`; the record (hash, size, listing) stays as proof."""
    purged = 0
    expired = ResultFile.objects.filter(purge_after__lte=timezone.now()).exclude(file="")
    for result in expired.select_related("case"):
        with transaction.atomic():
            result.file.delete(save=False)
            result.file = ""
            result.save(update_fields=["file"])
            record("result.purged", actor=Actor.system("retention"), case=result.case,
                   obj=result, details={"sha256": result.sha256})
        purged += 1
    from cases import responses  # builds on this module

    return purged + responses.purge_expired_packages()
