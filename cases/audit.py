"""Writing the audit trail: who did what to which case, chained by hash.

Details hold ids, codes and counts only. Personal data (names, emails, identity values) and
secrets must never be passed in: `record` refuses keys that usually carry them.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from cases.choices import ActorType
from cases.models import AuditEvent, Case

GENESIS_HASH = "0" * 64
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


def _canonical(event: AuditEvent) -> bytes:
    fields = {
        "seq": event.seq,
        "created_at": event.created_at.isoformat(),
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "case_id": event.case_id,
        "case_reference": event.case_reference,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "details": event.details,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(event.prev_hash.encode() + _canonical(event)).hexdigest()


def _check_details(details: dict[str, Any]) -> None:
    bad = _FORBIDDEN_DETAIL_KEYS & {key.lower() for key in details}
    if bad:
        raise ValueError(f"Audit details must not carry personal data or secrets: {sorted(bad)}")


def _lock_chain() -> None:
    # SQLite writers are already serialised by IMMEDIATE transactions (settings.DATABASES).
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])


def record(
    action: str,
    *,
    actor: Actor,
    case: Case | None = None,
    obj: Any = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction when there is one."""
    details = details or {}
    _check_details(details)
    with transaction.atomic():
        _lock_chain()
        head = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
        event = AuditEvent(
            seq=(head["seq"] + 1) if head else 1,
            created_at=timezone.now(),
            actor_type=actor.type,
            actor_id=actor.id,
            actor_label=actor.label,
            action=action,
            case=case,
            case_reference=case.reference if case else "",
            object_type=type(obj).__name__ if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            details=details,
            prev_hash=head["hash"] if head else GENESIS_HASH,
        )
        # JSON round trip so the hash covers exactly what the database will give back.
        event.details = json.loads(json.dumps(details, default=str))
        event.hash = compute_hash(event)
        event.save()
    return event
