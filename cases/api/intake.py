"""Opening a case from a ticket, idempotently.

Two guarantees, both enforced by unique constraints rather than check-then-insert, so they hold
when a ticketing system fires the same request twice at once:

- `external_ref` is unique per client (`case_unique_external_ref_per_client`): a repeat gets the
  existing case (200) when its body matches the first one, a 409 when it does not;
- an `Idempotency-Key` is unique per client (`idempotency_unique_key`): a repeat gets the first
  response replayed byte for byte, or a 409 if the body differs.

The loser of a race hits an IntegrityError, its whole attempt rolls back, and it tries again,
this time finding the winner's rows. A plain repeat takes the same path: a call's first attempt
inserts without looking for an existing case, which saves a new ticket that read. Bodies are
compared through a keyed hash (the blind index of `cases.crypto`), so no copy of the personal
data in a request is kept for the comparison.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases import services
from cases.api.errors import Conflict
from cases.api.serializers import canonical_intake
from cases.audit import Actor
from cases.choices import VerificationMethod
from cases.crypto import blind_index, blind_index_candidates
from cases.models import ApiClient, Case, CaseIntake, IdempotencyRecord, Message

# The first attempt does not look; a third collision after looking means something other than
# a duplicate is racing us.
MAX_ATTEMPTS = 4
# Replays are for retries of the same call; after this a repeat falls back to the
# external_ref check (the case as it is now, or a 409), which is still safe.
IDEMPOTENCY_TTL = dt.timedelta(days=30)

Render = Callable[[Case], bytes]


@dataclass(frozen=True)
class Outcome:
    """What to answer: the status, the exact body bytes, and the case they are about."""

    status: int
    body: bytes
    case_id: int | None
    replayed: bool = False


def open_case(
    client: ApiClient, data: dict[str, Any], *, idempotency_key: str | None, render: Render
) -> Outcome:
    """Create the case for `data`, or answer as the earlier identical request was answered."""
    canonical = canonical_intake(data)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        # A first attempt expects a new ticket and skips the read for an existing case: the
        # unique constraint catches a repeat, and the next attempt, which looks first, answers
        # it. Bad input is answered after looking too, so a repeat still gets its case.
        look_first = attempt > 1
        try:
            return _attempt(client, data, canonical, idempotency_key, render, look_first)
        except ValidationError:
            if look_first:
                raise
        except IntegrityError:
            if attempt == MAX_ATTEMPTS:
                raise Conflict(
                    "A concurrent request for the same ticket is still being processed; "
                    "retry shortly."
                ) from None
    raise AssertionError("unreachable")  # the loop returns or raises


def _attempt(
    client: ApiClient, data: dict, canonical: str, key: str | None, render: Render,
    look_first: bool,
) -> Outcome:
    if key:
        replay = _replay(client, key, canonical)
        if replay is not None:
            return replay
    with transaction.atomic():
        case = _existing(client, data["external_ref"]) if look_first else None
        if case is not None:
            outcome = _repeat(case, canonical, render)
        else:
            created = _create(client, data, canonical)
            outcome = Outcome(201, render(created), created.pk)
        if key:
            _remember(client, key, canonical, outcome)
        return outcome


def _existing(client: ApiClient, external_ref: str) -> Case | None:
    existing = Case.objects.filter(api_client=client, external_ref=external_ref)
    return existing.select_related("intake").first()


def _replay(client: ApiClient, key: str, canonical: str) -> Outcome | None:
    record = IdempotencyRecord.objects.filter(client=client, key=key).first()
    if record is None:
        return None
    if record.request_hash not in blind_index_candidates(canonical):
        raise Conflict("This Idempotency-Key was already used with a different request body.")
    return Outcome(record.response_status, record.response_body.encode(), record.case_id, True)


def _repeat(case: Case, canonical: str, render: Render) -> Outcome:
    intake = getattr(case, "intake", None)
    if intake is None or intake.request_hash not in blind_index_candidates(canonical):
        raise Conflict(
            f"Case {case.reference} was already opened for this external_ref with a different "
            "request body."
        )
    return Outcome(200, render(case), case.pk)


def _create(client: ApiClient, data: dict, canonical: str) -> Case:
    actor = Actor.for_client(client)
    case = services.create_case(
        actor=actor,
        api_client=client,
        external_ref=data["external_ref"],
        regulation=data["regulation"],
        actions=data["actions"],
        received_at=data.get("received_at"),
        subject_name=data["subject"].get("name", ""),
        subject_email=data["subject"]["email"],
        identities=data["identities"],
        vendors=data.get("vendors", []),
        adobe_products=data.get("adobe_products", []),
        acknowledge=True,
    )
    CaseIntake.objects.create(case=case, request_hash=blind_index(canonical))
    verification = data.get("verification")
    if not verification and not data.get("submit"):
        return as_written(case, messages=[case.acknowledgement] if case.acknowledgement else [])
    if verification:
        case = services.verify_identity(
            case, actor=actor, method=verification["method"], note=verification.get("note", ""),
            submit_when_confirmed=bool(data.get("submit")),
        )
    # Without `verification` the caller vouches (ticketing_system); an email link waits for the
    # subject's Confirm, which then submits the case (submit_when_confirmed).
    method = verification["method"] if verification else ""
    waits_for_subject = method == VerificationMethod.EMAIL_LINK
    if data.get("submit") and not waits_for_subject:
        case = services.vouch_and_submit(case, actor=actor)
    return case


def as_written(case: Case, *, messages: list[Message]) -> Case:
    """`case` with the related rows the API shows, known from what intake just wrote: no jobs,
    results or response yet, and its acknowledgement. Its 201 is rendered without a re-read.

    Only for a case nothing else has touched since `create_case`: the lists are set the way
    `prefetch_related` sets them, and would not see later writes.
    """
    cache = case.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, rows in (("jobs", []), ("results", []), ("messages", messages)):
        queryset = getattr(case, name).all()
        queryset._result_cache, queryset._prefetch_done = list(rows), True
        cache[name] = queryset
    Case.response_package.related.set_cached_value(case, None)
    case.rendered_as_written = True
    return case


def _remember(client: ApiClient, key: str, canonical: str, outcome: Outcome) -> None:
    IdempotencyRecord.objects.create(
        client=client,
        key=key,
        request_hash=blind_index(canonical),
        case_id=outcome.case_id,
        response_status=outcome.status,
        response_body=outcome.body.decode(),
    )


def purge_idempotency_records() -> str:
    """The worker's daily schedule: forget stored responses older than IDEMPOTENCY_TTL."""
    cutoff = timezone.now() - IDEMPOTENCY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return f"{deleted} idempotency records purged"
