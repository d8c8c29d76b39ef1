"""Writing and checking the audit trail: who did what to which case, chained by hash.

Details hold ids, codes and counts only. Personal data (names, emails, identity values) and
secrets must never be passed in: `record` refuses keys that usually carry them.

Each event stores the previous event's hash and its own SHA-256 over that and a canonical JSON of
its fields (`HASHED_FIELDS`). `verify_chain` walks the chain in `seq` order and names the first
event that does not fit; `run_scheduled_verification` is the worker's periodic check and
`last_verification` reads its latest outcome back for the admin home page.
"""

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from cases import bulk
from cases.choices import ActorType
from cases.models import AuditEvent, Case

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# What an event's hash covers, besides the previous hash. Changing this list breaks every
# existing chain: it is part of the stored data's format.
HASHED_FIELDS = (
    "seq",
    "created_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "case_id",
    "case_reference",
    "object_type",
    "object_id",
    "details",
)
VERIFIED_ACTION = "audit.verified"
# An arbitrary constant: the PostgreSQL advisory lock that serialises writers of the chain.
_CHAIN_LOCK_ID = 7_240_921_001
_FORBIDDEN_DETAIL_KEYS = frozenset(
    {"email", "name", "value", "values", "identities", "token", "secret", "password", "url"}
)


@dataclass(frozen=True)
class Actor:
    """Who did something: an officer, an API client, or the system itself."""

    type: str
    id: str = ""
    label: str = ""

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls(ActorType.SYSTEM, "", label)

    @classmethod
    def for_user(cls, user) -> "Actor":
        return cls(ActorType.USER, str(user.pk), user.get_username())

    @classmethod
    def for_client(cls, client) -> "Actor":
        return cls(ActorType.API_CLIENT, str(client.pk), client.name)


def hash_fields(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the event's `HASHED_FIELDS`.

    `fields` may be a model's attributes, a `values()` row or a parsed export line, so
    `created_at` may come as a datetime or as its ISO string.
    """
    canonical = {name: fields[name] for name in HASHED_FIELDS}
    if isinstance(canonical["created_at"], dt.datetime):
        canonical["created_at"] = canonical["created_at"].isoformat()
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(prev_hash.encode() + payload.encode()).hexdigest()


def compute_hash(event: AuditEvent) -> str:
    return hash_fields(event.prev_hash, {name: getattr(event, name) for name in HASHED_FIELDS})


def _check_details(details: dict[str, Any]) -> None:
    bad = _FORBIDDEN_DETAIL_KEYS & {key.lower() for key in details}
    if bad:
        raise ValueError(f"Audit details must not carry personal data or secrets: {sorted(bad)}")


def lock_chain() -> None:
    """Take the chain's writer lock for the rest of the transaction (re-entrant)."""
    # SQLite writers are already serialised by IMMEDIATE transactions (settings.DATABASES).
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])


@dataclass(frozen=True)
class Pending:
    """One event to append with `record_many`: the same arguments `record` takes."""

    action: str
    actor: Actor
    case: Case | None = None
    obj: Any = None
    details: Mapping[str, Any] | None = None


def record(
    action: str,
    *,
    actor: Actor,
    case: Case | None = None,
    obj: Any = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction when there is one."""
    return record_many([Pending(action, actor, case, obj, details)])[0]


def record_many(pending: list[Pending]) -> list[AuditEvent]:
    """Append events in order, as consecutive links of the chain, in one insert.

    The chain lock is taken and the head read once for the whole batch (a sync pass writes
    hundreds of events); each event's hash still covers the one before it, so the chain verifies
    exactly as if they had been written one by one.
    """
    for item in pending:
        _check_details(dict(item.details or {}))
    if not pending:
        return []
    with transaction.atomic():
        lock_chain()
        head = chain_head()
        seq, prev_hash, now = head.seq, head.hash, timezone.now()
        events = []
        for item in pending:
            seq += 1
            event = _event(item, seq=seq, created_at=now, prev_hash=prev_hash)
            prev_hash = event.hash
            events.append(event)
        _insert(events)
    return events


# A batch this long goes in by COPY on PostgreSQL (a sync pass's events); shorter ones, and
# every batch on SQLite, by bulk_create.
COPY_ABOVE = 50


def _insert(events: list[AuditEvent]) -> None:
    if connection.vendor != "postgresql" or len(events) < COPY_ABOVE:
        AuditEvent.objects.bulk_create(events)
        return
    bulk.copy_rows(events)
    ids = dict(AuditEvent.objects.filter(seq__range=(events[0].seq, events[-1].seq))
               .values_list("seq", "pk"))
    for event in events:
        event.pk = ids[event.seq]
        event._state.adding = False


def _event(item: Pending, *, seq: int, created_at: dt.datetime, prev_hash: str) -> AuditEvent:
    case, obj = item.case, item.obj
    event = AuditEvent(
        seq=seq,
        created_at=created_at,
        actor_type=item.actor.type,
        actor_id=item.actor.id,
        actor_label=item.actor.label,
        action=item.action,
        case=case,
        case_reference=case.reference if case else "",
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        # JSON round trip so the hash covers exactly what the database will give back.
        details=json.loads(json.dumps(dict(item.details or {}), default=str)),
        prev_hash=prev_hash,
    )
    event.hash = compute_hash(event)
    return event


# --------------------------------------------------------------------------- checking the chain


@dataclass(frozen=True)
class ChainHead:
    """The newest event's seq and hash; seq 0 and the genesis hash for an empty chain."""

    seq: int
    hash: str


@dataclass(frozen=True)
class ChainBreak:
    """The first event that does not fit the chain, and why."""

    seq: int
    event_id: int
    reason: str


@dataclass(frozen=True)
class VerifyResult:
    """What `verify_chain` found: how many events fit, the last one that did, the first break."""

    events: int
    head: ChainHead
    broken: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    @property
    def message(self) -> str:
        if self.broken is None:
            return f"Audit chain intact: {self.events} events, head {self.head.hash}"
        return (
            f"Audit chain broken at event #{self.broken.seq} (id {self.broken.event_id}): "
            f"{self.broken.reason}"
        )

    def as_details(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_seq": self.head.seq,
            "head_hash": self.head.hash,
            "broken_seq": self.broken.seq if self.broken else None,
            "broken_id": self.broken.event_id if self.broken else None,
            "reason": self.broken.reason if self.broken else "",
        }


def chain_head() -> ChainHead:
    head = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
    return ChainHead(head["seq"], head["hash"]) if head else ChainHead(0, GENESIS_HASH)


def _break_reason(row: Mapping[str, Any], expected_seq: int, expected_prev: str) -> str | None:
    """Why `row` cannot follow the event before it, or None when it fits."""
    seq = row["seq"]
    if seq < expected_seq:
        return f"its seq is out of sequence (expected #{expected_seq})"
    if seq > expected_seq:
        gap = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq} to #{seq - 1}"
        return f"event {gap} is missing before it (deleted, or its seq was changed)"
    previous = "the genesis hash" if seq == 1 else f"the hash of event #{seq - 1}"
    linked = row["prev_hash"] == expected_prev
    intact = hash_fields(row["prev_hash"], row) == row["hash"]
    if linked and intact:
        return None
    if linked:
        return "its hash does not match its contents: the event was edited"
    if intact:
        # The event is self-consistent but points elsewhere: something before it was replaced
        # and re-hashed, or an event was inserted.
        return f"its prev_hash does not match {previous}: an earlier event was replaced"
    return (
        f"neither its hash nor its prev_hash (vs {previous}) match: "
        "the event was moved out of order or rewritten"
    )


def verify_chain(*, chunk_size: int = 2000) -> VerifyResult:
    """Walk every event in seq order; stop at the first that breaks the chain.

    Reads `values()` rows through a chunked iterator (a server-side cursor on PostgreSQL), so
    memory stays flat however long the chain is. Deleting events from the end cannot show here
    (the rest is still a valid chain): compare with a head recorded earlier (`check_anchor`).
    """
    expected_seq, expected_prev, count = 1, GENESIS_HASH, 0
    rows = (
        AuditEvent.objects.order_by("seq")
        .values("id", "prev_hash", "hash", *HASHED_FIELDS)
        .iterator(chunk_size=chunk_size)
    )
    for row in rows:
        reason = _break_reason(row, expected_seq, expected_prev)
        if reason:
            head = ChainHead(expected_seq - 1, expected_prev)
            return VerifyResult(count, head, ChainBreak(row["seq"], row["id"], reason))
        count += 1
        expected_seq, expected_prev = row["seq"] + 1, row["hash"]
    return VerifyResult(count, ChainHead(expected_seq - 1, expected_prev))


def check_anchor(anchor: ChainHead) -> str | None:
    """Why the chain no longer holds `anchor` (a head stamped on an export), or None if it does.

    This is what catches events deleted from the end of the chain after the anchor was taken.
    """
    if anchor.seq == 0:
        return None if anchor.hash == GENESIS_HASH else "seq 0 can only carry the genesis hash"
    stored = AuditEvent.objects.filter(seq=anchor.seq).values_list("hash", flat=True).first()
    if stored is None:
        return f"event #{anchor.seq} is no longer in the chain (events deleted from the end?)"
    if stored != anchor.hash:
        return f"event #{anchor.seq} now has hash {stored}, not {anchor.hash}"
    return None


def run_scheduled_verification() -> str:
    """The worker's periodic check: verify the chain and record the outcome in the chain itself."""
    result = verify_chain()
    if not result.ok:
        log.error("%s", result.message)
    record(VERIFIED_ACTION, actor=Actor.system("audit verifier"), details=result.as_details())
    return result.message


@dataclass(frozen=True)
class Verification:
    """The latest recorded verification, for the admin home page."""

    ok: bool
    checked_at: dt.datetime
    events: int
    head_seq: int
    head_hash: str
    broken_seq: int | None
    reason: str


def last_verification() -> Verification | None:
    """The newest `audit.verified` event, read back; None before the first scheduled run."""
    event = (
        AuditEvent.objects.filter(action=VERIFIED_ACTION)
        .order_by("-seq")
        .values("created_at", "details")
        .first()
    )
    if event is None:
        return None
    details = event["details"]
    return Verification(
        ok=bool(details.get("ok")),
        checked_at=event["created_at"],
        events=int(details.get("events", 0)),
        head_seq=int(details.get("head_seq", 0)),
        head_hash=str(details.get("head_hash", "")),
        broken_seq=details.get("broken_seq"),
        reason=str(details.get("reason", "")),
    )
