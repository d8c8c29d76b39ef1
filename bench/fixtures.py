"""Many audit events, quickly: correctly chained rows built in Python and bulk-inserted.

`record()` takes the chain lock and reads the head once per event, far too slow for 100,000
rows. These rows carry real hashes, so `verify_chain` and the exports treat them as genuine.
Only for tests and benchmarks, on a database nothing else is writing to: `bulk_create` skips
`AuditEvent.save()` and the chain lock.
"""

import datetime as dt
from collections.abc import Iterator, Sequence
from itertools import islice

from django.db import transaction
from django.utils import timezone

from cases.audit import ChainHead, chain_head, compute_hash
from cases.choices import ActorType
from cases.models import AuditEvent

# Shapes like the real trail's: mostly vendor calls and status changes.
_SAMPLES = (
    ("vendor.call", ActorType.SYSTEM, "worker",
     {"vendor": "adobe_privacy", "operation": "get_job", "http_status": 200,
      "duration_ms": 184, "error_class": ""}),
    ("job.status_changed", ActorType.SYSTEM, "worker",
     {"vendor": "adobe_privacy", "action": "access", "from": "submitted", "to": "processing",
      "vendor_status": "processing"}),
    ("case.status_changed", ActorType.USER, "olivia", {"from": "new", "to": "verified"}),
    ("result.downloaded", ActorType.USER, "olivia",
     {"sha256": "9f" * 32, "size": 48213}),
)


def synthetic_events(
    n: int,
    *,
    after: ChainHead,
    cases: Sequence[tuple[int, str]] = (),
    first_at: dt.datetime,
    step: dt.timedelta,
) -> Iterator[AuditEvent]:
    """`n` events chained after `after`, spread `step` apart, cycling through `cases`."""
    prev = after.hash
    for i in range(n):
        action, actor_type, label, details = _SAMPLES[i % len(_SAMPLES)]
        case_id, reference = cases[i % len(cases)] if cases else (None, "")
        event = AuditEvent(
            seq=after.seq + 1 + i,
            created_at=first_at + i * step,
            actor_type=actor_type,
            actor_id="1" if actor_type == ActorType.USER else "",
            actor_label=label,
            action=action,
            case_id=case_id,
            case_reference=reference,
            object_type="VendorJob" if action.startswith(("vendor", "job")) else "Case",
            object_id=str(i),
            details=details,
            prev_hash=prev,
        )
        event.hash = compute_hash(event)
        prev = event.hash
        yield event


def append_events(
    n: int,
    *,
    cases: Sequence[tuple[int, str]] = (),
    first_at: dt.datetime | None = None,
    step: dt.timedelta = dt.timedelta(seconds=1),
    batch_size: int = 5000,
) -> ChainHead:
    """Append `n` chained events after the current head; returns the new head."""
    first_at = first_at or timezone.now() - n * step
    with transaction.atomic():
        events = synthetic_events(
            n, after=chain_head(), cases=cases, first_at=first_at, step=step
        )
        while batch := list(islice(events, batch_size)):
            AuditEvent.objects.bulk_create(batch)
    return chain_head()
