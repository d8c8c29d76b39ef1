"""Email-link verification: the subject's personal link to `/portal/verify/<token>/`.

A token is 32 random bytes from `secrets` (URL-safe text); it goes only into the message to the
subject, and the database keeps its SHA-256 (`PortalToken`), its single purpose, its expiry
(`VERIFY_LINK_DAYS`) and whether it was used or revoked. Opening the link (a GET, which mail
scanners do) only shows a Confirm button; pressing it verifies the case and, when the case was
opened with API `submit: true`, sends it to the vendors. Every use is audited with ids only:
`portal.link_opened`, `portal.link_confirmed`, `portal.link_refused` (with the token's state).
The writers follow `cases.services`: `@transaction.atomic`, keyword-only `actor`.
"""

import datetime as dt
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from cases import messaging, services, webhooks
from cases.audit import Actor, record
from cases.choices import CaseStatus, MessageKind, TokenPurpose, TokenState, VerificationMethod
from cases.models import Case, PortalToken, TransitionError, hash_portal_token

log = logging.getLogger(__name__)
SUBJECT = Actor.system("data subject (portal link)")
TOKEN_BYTES = 32
# Longer than any token we issue: a longer path segment is not looked up at all.
MAX_TOKEN_LENGTH = 100


@dataclass(frozen=True)
class Lookup:
    """A token as the portal finds it: its state, and its row when it exists."""

    state: str
    token: PortalToken | None


def issue_token(case: Case, purpose: str, days: int) -> tuple[PortalToken, str]:
    """A new token row for `case` and the token itself (shown once, never stored)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    row = PortalToken.objects.create(
        case=case, purpose=purpose, token_hash=hash_portal_token(token), created_at=now,
        expires_at=now + dt.timedelta(days=days),
    )
    return row, token


def verify_link(token: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("portal:verify", args=[token])


def live_links(case: Case):
    """The case's verification links that still work."""
    return PortalToken.objects.filter(
        case=case, purpose=TokenPurpose.VERIFY, used_at__isnull=True, revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )


@transaction.atomic
def send_link(case: Case, *, actor: Actor, submit_when_confirmed: bool = False) -> str:
    """Email the subject a fresh verification link (earlier ones stop working); the link."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status != CaseStatus.NEW:
        raise TransitionError(
            f"Case {case.reference} is {case.get_status_display().lower()}: only a new case "
            "waits for the subject to confirm their identity."
        )
    if not settings.PUBLIC_BASE_URL:
        raise ValidationError({"method": (
            "PUBLIC_BASE_URL is not set: a verification link needs the portal's public address."
        )})
    revoke_links(case, actor=actor, reason="replaced")
    row, token = issue_token(case, TokenPurpose.VERIFY, settings.VERIFY_LINK_DAYS)
    message = messaging.queue_message(
        case, MessageKind.VERIFICATION_REQUEST, actor=actor, extra={"link": verify_link(token)}
    )
    PortalToken.objects.filter(pk=row.pk).update(message=message)
    case.verification_method = VerificationMethod.EMAIL_LINK
    case.submit_on_verify = case.submit_on_verify or submit_when_confirmed
    case.save(update_fields=["verification_method", "submit_on_verify", "updated_at"])
    record("verification.link_sent", actor=actor, case=case, obj=row, details={
        "token_id": row.pk, "message_id": message.pk, "expires_at": row.expires_at.isoformat(),
        "submit_when_confirmed": case.submit_on_verify,
    })
    return verify_link(token)


def revoke_links(case: Case, *, actor: Actor, reason: str) -> int:
    """Make the case's working verification links stop working; how many there were.

    For a writer's transaction (the caller holds the case's lock)."""
    ids = list(live_links(case).values_list("pk", flat=True))
    PortalToken.objects.filter(pk__in=ids).update(revoked_at=timezone.now())
    for token_id in ids:
        record("verification.link_revoked", actor=actor, case=case, obj=None,
               details={"token_id": token_id, "reason": reason})
    return len(ids)


@transaction.atomic
def revoke(case: Case, *, actor: Actor) -> int:
    """An officer withdraws the verification link (e.g. sent to a wrong address)."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    revoked = revoke_links(case, actor=actor, reason="officer")
    if not revoked:
        raise TransitionError(f"{case.reference} has no verification link that still works.")
    return revoked


# --------------------------------------------------------------------------- the portal's side


def find(token: str, purpose: str) -> Lookup:
    """The token's state; UNKNOWN for anything not issued for this purpose."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return Lookup(TokenState.UNKNOWN, None)
    row = (
        PortalToken.objects.select_related("case")
        .filter(token_hash=hash_portal_token(token), purpose=purpose)
        .first()
    )
    if row is None:
        return Lookup(TokenState.UNKNOWN, None)
    return Lookup(row.state(), row)


@transaction.atomic
def open_link(token: str) -> str:
    """The subject (or a mail scanner) opened the link: audit it, verify nothing."""
    lookup = find(token, TokenPurpose.VERIFY)
    if lookup.state == TokenState.VALID:
        _audit_use("portal.link_opened", lookup.token)
    else:
        _refused(lookup)
    return lookup.state


@transaction.atomic
def confirm(token: str) -> str:
    """The subject pressed Confirm: use the token once, verify the case, maybe submit it."""
    lookup = find(token, TokenPurpose.VERIFY)
    row = lookup.token
    if lookup.state == TokenState.VALID and row.case.status != CaseStatus.NEW:
        # On hold, rejected or verified another way since the link went out.
        PortalToken.objects.filter(pk=row.pk).update(revoked_at=timezone.now())
        lookup = Lookup(TokenState.REVOKED, row)
    if lookup.state != TokenState.VALID:
        _refused(lookup)
        return lookup.state
    claimed = PortalToken.objects.filter(
        pk=row.pk, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).update(used_at=timezone.now())
    if not claimed:  # a double click, or a revocation in between
        row.refresh_from_db()
        _refused(Lookup(row.state(), row))
        return row.state()
    _audit_use("portal.link_confirmed", row)
    case = services.record_verification(
        row.case, actor=SUBJECT, method=VerificationMethod.EMAIL_LINK,
        details={"token_id": row.pk},
    )
    webhooks.case_verified(case)
    if case.submit_on_verify:
        _submit(case)
    return TokenState.VALID


def _submit(case: Case) -> None:
    """Send the confirmed case on, as its API client asked; a refusal leaves it verified."""
    try:
        with transaction.atomic():
            services.submit_case(case, actor=SUBJECT)
    except (TransitionError, ValidationError):
        log.warning("Case %s was verified but could not be submitted automatically", case.pk)
        record("case.auto_submit_refused", actor=SUBJECT, case=case, obj=case)


def _audit_use(action: str, row: PortalToken) -> None:
    record(action, actor=SUBJECT, case=row.case, obj=row,
           details={"token_id": row.pk, "purpose": row.purpose})


def _refused(lookup: Lookup) -> None:
    if lookup.token is None:
        # Nothing to attach it to; the view logs it (without the token).
        return
    record("portal.link_refused", actor=SUBJECT, case=lookup.token.case, obj=lookup.token,
           details={"token_id": lookup.token.pk, "purpose": lookup.token.purpose,
                    "state": lookup.state})


def describe(case: Case) -> str:
    """The case page's line: how, by whom and when the identity was checked, or what waits."""
    if case.verified_at:
        when = timezone.localtime(case.verified_at)
        text = (f"{VerificationMethod(case.verification_method).label}, recorded by "
                f"{case.verified_by} on {when:%Y-%m-%d %H:%M}."
                if case.verification_method else f"Verified on {when:%Y-%m-%d %H:%M}.")
        return f"{text} Evidence: {case.verification_note}" if case.verification_note else text
    last = case.portal_tokens.filter(purpose=TokenPurpose.VERIFY).first()
    if last is None:
        return "Not verified."
    state = last.state()
    sent = f"{timezone.localtime(last.created_at):%Y-%m-%d %H:%M}"
    if state == TokenState.VALID:
        expires = f"{timezone.localtime(last.expires_at):%Y-%m-%d %H:%M}"
        return (f"Verification link sent on {sent}, valid until {expires}: waiting for the "
                "subject to press Confirm.")
    return (f"Not verified. The verification link sent on {sent} is "
            f"{TokenState(state).label.lower()}; send a new one with Re-send verification link.")
