"""Webhooks: tell an API client's server when one of its cases changes status.

A status change writes a `WebhookDelivery` row in the same transaction (so an event exists if
and only if the change committed) and queues a delivery on commit. Each attempt POSTs the JSON
body with

    X-PrivacyDesk-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>
    X-PrivacyDesk-Timestamp: <unix seconds>  (also inside the signed body as `timestamp`)
    X-PrivacyDesk-Event / X-PrivacyDesk-Delivery: the event name and the delivery's id

A failed attempt (no answer, or not 2xx) is rescheduled with exponential backoff through
`next_attempt_at`; the worker's "Deliver webhooks" schedule sends whatever is due, so no task
sleeps and a lost task is picked up again. After WEBHOOK_MAX_ATTEMPTS the delivery is `failed`;
an officer can re-send it from the admin. Delivery is at least once: receivers dedupe on
`event_id`. Payloads hold ids, codes and dates, never personal data, and tasks get only ids.
"""

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from cases.audit import Actor, record
from cases.choices import CaseStatus, WebhookStatus
from cases.models import ApiClient, Case, WebhookDelivery
from connectors.download import is_public_address, resolve_host

log = logging.getLogger(__name__)
STATUS_CHANGED = "case.status_changed"
MESSAGE_FAILED = "message.failed"
CASE_VERIFIED = "case.verified"
RESPONSE_SENT = "case.response_sent"
RESPONSE_DOWNLOADED = "case.response_downloaded"
# A delivery left `sending` this long has lost its worker; it is sent again.
STALE_SENDING = dt.timedelta(minutes=5)
MAX_ERROR_LENGTH = 500
Resolver = Callable[[str, int], list[str]]


class WebhookRefused(Exception):
    """The URL may not be called (e.g. a private address); retrying would not help."""


def sign(secret: str, body: bytes) -> str:
    """The signature header value: `sha256=` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> dt.timedelta:
    """1, 2, 4, ... minutes after the nth failed attempt, at most an hour."""
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


# --------------------------------------------------------------------------- queueing


def status_changed(case: Case, old_status: str, new_status: str) -> WebhookDelivery | None:
    """Record the event for the case's client, if it has a webhook, and send it on commit."""
    if old_status == new_status:
        return None
    delivered = statuses_changed([(case, old_status)])
    return delivered[0] if delivered else None


def statuses_changed(changes: list[tuple[Case, str]]) -> list[WebhookDelivery]:
    """`status_changed` for many cases at once (a sync pass): each case with the status it had,
    its new one already set. The clients are read in one query and the deliveries inserted in
    one; each delivery is still queued on its own on commit."""
    changes = [(case, old) for case, old in changes if old != case.status and case.api_client_id]
    if not changes:
        return []
    clients = ApiClient.objects.in_bulk({case.api_client_id for case, _ in changes})
    deliveries = []
    for case, old_status in changes:
        client = clients.get(case.api_client_id)
        if client is None or not client.is_usable or not client.webhook_url:
            continue
        deliveries.append(WebhookDelivery(
            client=client, case=case, event=STATUS_CHANGED,
            payload=_case_payload(case, old_status), next_attempt_at=timezone.now(),
        ))
    deliveries = WebhookDelivery.objects.bulk_create(deliveries)
    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: queue_delivery(pk))
    return deliveries


def message_failed(case: Case, message_id: int, kind: str) -> WebhookDelivery | None:
    """Tell the case's client that a message to the subject failed: its id and kind only."""
    client = ApiClient.objects.filter(pk=case.api_client_id).first() if case.api_client_id else None
    if client is None or not client.is_usable or not client.webhook_url:
        return None
    payload = {**_case_payload(case, case.status),
               "message": {"id": message_id, "kind": kind, "status": "failed"}}
    delivery = WebhookDelivery.objects.create(
        client=client, case=case, event=MESSAGE_FAILED, payload=payload,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: queue_delivery(delivery.pk))
    return delivery


def case_verified(case: Case) -> WebhookDelivery | None:
    """Tell the case's client that the subject confirmed their identity: ids and codes only."""
    client = ApiClient.objects.filter(pk=case.api_client_id).first() if case.api_client_id else None
    if client is None or not client.is_usable or not client.webhook_url:
        return None
    payload = {**_case_payload(case, CaseStatus.NEW), "verification": {
        "method": case.verification_method,
        "verified_at": case.verified_at.isoformat() if case.verified_at else None,
    }}
    delivery = WebhookDelivery.objects.create(
        client=client, case=case, event=CASE_VERIFIED, payload=payload,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: queue_delivery(delivery.pk))
    return delivery


def response_event(case: Case, event: str, state: dict | None) -> WebhookDelivery | None:
    """Tell the case's client the response was sent or first downloaded: dates and counts."""
    client = ApiClient.objects.filter(pk=case.api_client_id).first() if case.api_client_id else None
    if client is None or not client.is_usable or not client.webhook_url:
        return None
    response = {key: value.isoformat() if hasattr(value, "isoformat") else value
                for key, value in (state or {}).items()}
    payload = {**_case_payload(case, case.status), "response": response}
    delivery = WebhookDelivery.objects.create(
        client=client, case=case, event=event, payload=payload, next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: queue_delivery(delivery.pk))
    return delivery


def _case_payload(case: Case, old_status: str) -> dict:
    return {
        "id": case.pk,
        "reference": case.reference,
        "external_ref": case.external_ref,
        "status": case.status,
        "previous_status": old_status,
        "status_changed_at": case.status_changed_at.isoformat(),
        "due_at": case.due_date.isoformat(),
        "days_left": case.days_left(),
    }


def queue_delivery(delivery_id: int) -> None:
    from django_q.tasks import async_task

    async_task("cases.webhooks.deliver", delivery_id, task_name=f"webhook {delivery_id}")


@transaction.atomic
def resend(delivery: WebhookDelivery, *, actor: Actor) -> None:
    """An officer's re-send: a fresh round of attempts for the same event."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookStatus.PENDING, attempts=0, next_attempt_at=timezone.now(),
        last_error="",
    )
    record("webhook.resent", actor=actor, case=delivery.case, obj=delivery,
           details={"event": delivery.event, "client_id": delivery.client_id})
    transaction.on_commit(lambda: queue_delivery(delivery.pk))


# --------------------------------------------------------------------------- sending


def deliver_due() -> str:
    """The worker's schedule: send every delivery that is due, one failure never stops it."""
    now = timezone.now()
    due = WebhookDelivery.objects.filter(
        Q(status=WebhookStatus.PENDING, next_attempt_at__lte=now)
        | Q(status=WebhookStatus.SENDING, last_attempt_at__lt=now - STALE_SENDING)
    ).values_list("pk", flat=True)
    outcomes = []
    for delivery_id in list(due[:500]):
        try:
            outcomes.append(deliver(delivery_id))
        except Exception:  # one broken delivery must not stop the pass; the log has it
            log.exception("Webhook delivery %s failed unexpectedly", delivery_id)
    return f"{len(outcomes)} webhook deliveries attempted"


def deliver(delivery_id: int, *, resolver: Resolver = resolve_host) -> str:
    """Make one attempt at a delivery, if it is due and no other worker has claimed it."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return "nothing to do"
    client = delivery.client
    timestamp = int(time.time())
    body = _body(delivery, timestamp)
    try:
        _check_url(client.webhook_url, resolver)
        response = _post(client, delivery, body, timestamp)
    except WebhookRefused as exc:
        _finish(delivery, status=WebhookStatus.FAILED, error=str(exc))
        return "refused"
    except requests.RequestException as exc:
        return _failed(delivery, None, f"{type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        _finish(delivery, status=WebhookStatus.DELIVERED, code=response.status_code)
        return "delivered"
    return _failed(delivery, response.status_code, f"HTTP {response.status_code}")


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Mark the delivery `sending` (one attempt more); None if it is not due or taken."""
    now = timezone.now()
    due = Q(status=WebhookStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=WebhookStatus.SENDING, last_attempt_at__lt=now - STALE_SENDING
    )
    claimed = WebhookDelivery.objects.filter(due, pk=delivery_id).update(
        status=WebhookStatus.SENDING, attempts=F("attempts") + 1, last_attempt_at=now
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("client").get(pk=delivery_id)


def _body(delivery: WebhookDelivery, timestamp: int) -> bytes:
    # The timestamp sits inside the signed body, so a receiver can refuse old replays.
    envelope = {
        "event_id": str(delivery.uuid),
        "event": delivery.event,
        "timestamp": timestamp,
        "case": delivery.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


def _check_url(url: str, resolver: Resolver) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("The webhook URL must be an http(s) URL with a host.")
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolver(parts.hostname, port)
    except OSError:
        return  # DNS trouble is transient: let the request fail and be retried
    if not addresses or not all(is_public_address(a) for a in addresses):
        raise WebhookRefused(
            f"{parts.hostname} resolves to a private or loopback address; set "
            "WEBHOOK_ALLOW_PRIVATE_NETWORKS=true if that is intended."
        )


def _post(
    client: ApiClient, delivery: WebhookDelivery, body: bytes, timestamp: int
) -> requests.Response:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "PrivacyDesk-Webhooks/1",
        "X-PrivacyDesk-Event": delivery.event,
        "X-PrivacyDesk-Delivery": str(delivery.uuid),
        "X-PrivacyDesk-Timestamp": str(timestamp),
        "X-PrivacyDesk-Signature": sign(client.webhook_secret, body),
    }
    # No redirects: a redirect could send the signed body somewhere the operator did not list.
    return requests.post(
        client.webhook_url, data=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT,
        allow_redirects=False,
    )


def _failed(delivery: WebhookDelivery, code: int | None, error: str) -> str:
    if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        _finish(delivery, status=WebhookStatus.FAILED, code=code, error=error)
        return "failed"
    when = timezone.now() + backoff(delivery.attempts)
    _finish(delivery, status=WebhookStatus.PENDING, code=code, error=error, next_attempt_at=when)
    return "will retry"


def _finish(delivery: WebhookDelivery, *, status: str, code: int | None = None,
            error: str = "", next_attempt_at: dt.datetime | None = None) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status,
        last_status_code=code,
        last_error=error[:MAX_ERROR_LENGTH],
        next_attempt_at=next_attempt_at,
        delivered_at=timezone.now() if status == WebhookStatus.DELIVERED else None,
    )
