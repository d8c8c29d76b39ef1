"""The only writers of cases: each function changes state and audits it in one transaction.

Admin actions, API views and management commands call these and stay short. Every function takes
a keyword-only `actor` (see `cases.audit.Actor`) and raises `ValidationError` for bad input or
`TransitionError` for a move the workflow does not allow.
"""

import datetime as dt
from collections.abc import Iterable, Mapping

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from cases import deadlines
from cases.audit import Actor, record
from cases.choices import (
    CASE_HOLDABLE,
    CASE_TERMINAL,
    CaseActions,
    CaseStatus,
    RejectionReason,
)
from cases.crypto import blind_index_candidates
from cases.models import (
    ApiClient,
    Case,
    DataSubject,
    Identity,
    ReferenceCounter,
    TransitionError,
)
from cases.validators import (
    validate_adobe_products,
    validate_identities,
    validate_regulation,
    validate_vendors,
)

# A ticketing system's clock may run slightly ahead of ours.
_CLOCK_SKEW = dt.timedelta(minutes=5)


def _next_reference(year: int) -> str:
    ReferenceCounter.objects.get_or_create(year=year)
    ReferenceCounter.objects.filter(year=year).update(last=F("last") + 1)
    number = ReferenceCounter.objects.values_list("last", flat=True).get(year=year)
    return f"DSAR-{year}-{number:06d}"


def _check_received_at(received_at: dt.datetime | None) -> dt.datetime:
    now = timezone.now()
    if received_at is None:
        return now
    if timezone.is_naive(received_at):
        raise ValidationError({"received_at": "Give a time zone (e.g. 2026-11-20T10:00:00Z)."})
    if received_at > now + _CLOCK_SKEW:
        raise ValidationError({"received_at": "The receipt date cannot be in the future."})
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
) -> Case:
    """Open a case with its subject and identities; the deadline runs from `received_at`."""
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
        reference=_next_reference(received_on.year),
        external_ref=external_ref.strip(),
        api_client=api_client,
        regulation=regulation,
        actions=case_actions,
        vendors=validate_vendors(vendors),
        adobe_products=validate_adobe_products(adobe_products),
        received_at=received_at,
        due_date=due,
        original_due_date=due,
    )
    subject = DataSubject.objects.create(case=case, name=name, email=email)
    for identity in cleaned_identities:
        Identity.objects.create(subject=subject, **identity)
    duplicates = list(
        possible_duplicates(case).values_list("reference", flat=True)[:10]
    )
    record(
        "case.created",
        actor=actor,
        case=case,
        obj=case,
        details={
            "regulation": regulation,
            "actions": case.action_list,
            "identity_namespaces": sorted({i["namespace"] for i in cleaned_identities}),
            "identity_count": len(cleaned_identities),
            "due_date": due.isoformat(),
            "external_ref_set": bool(case.external_ref),
            "possible_duplicates": duplicates,
        },
    )
    return case


def possible_duplicates(case: Case):
    """Other open cases for the same subject email (found through the blind index)."""
    subject = DataSubject.objects.only("email").get(case=case)
    return (
        Case.objects.open()
        .filter(subject__email_index__in=blind_index_candidates(subject.email))
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


def _require_reason(reason: str, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": f"A reason is required to {what}."})
    return reason


@transaction.atomic
def verify_identity(case: Case, *, actor: Actor) -> Case:
    """Record that the officer has checked the subject is who they say they are."""
    case = _lock(case)
    case.check_transition(CaseStatus.VERIFIED)
    case.verified_at = timezone.now()
    _set_status(case, CaseStatus.VERIFIED, actor=actor)
    record("case.identity_verified", actor=actor, case=case, obj=case)
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
    case: Case, *, actor: Actor, reason: str, until: dt.date | None = None
) -> Case:
    """Extend the deadline once, by at most what the law allows (to `until` if given)."""
    reason = _require_reason(reason, "extend a deadline")
    case = _lock(case)
    if case.status in CASE_TERMINAL or case.status == CaseStatus.COMPLETED:
        raise TransitionError(f"Case {case.reference} has been answered; nothing to extend.")
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
    return case


@transaction.atomic
def reject(case: Case, *, actor: Actor, reason: str, code: str = RejectionReason.OTHER) -> Case:
    """Refuse the request, with the reason the subject will be told."""
    reason = _require_reason(reason, "reject a case")
    if code not in RejectionReason.values:
        raise ValidationError({"code": f"Unknown rejection reason '{code}'."})
    case = _lock(case)
    case.check_transition(CaseStatus.REJECTED)
    case.rejection_code = code
    case.closed_at = timezone.now()
    _set_status(case, CaseStatus.REJECTED, actor=actor, reason=reason)
    record("case.rejected", actor=actor, case=case, obj=case, details={"reason_code": code})
    return case


@transaction.atomic
def assign(case: Case, *, actor: Actor, assignee) -> Case:
    """Give the case to an officer (or take it back with `assignee=None`)."""
    case = _lock(case)
    if not case.is_open:
        raise TransitionError(f"Case {case.reference} is {case.status}: it cannot be reassigned.")
    if assignee is not None and not (assignee.is_active and assignee.is_staff):
        raise ValidationError({"assignee": "Cases can only go to active staff users."})
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
def close(case: Case, *, actor: Actor, note: str = "") -> Case:
    """Record that the response has been delivered to the subject."""
    case = _lock(case)
    case.check_transition(CaseStatus.CLOSED)
    case.closed_at = timezone.now()
    _set_status(case, CaseStatus.CLOSED, actor=actor, reason=note.strip())
    record("case.closed", actor=actor, case=case, obj=case)
    return case


def officers():
    """Users a case can be assigned to."""
    return get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")
