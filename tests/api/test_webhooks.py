import datetime as dt
import hashlib
import hmac
import json

import pytest
import requests
import responses
from django.utils import timezone

from cases import services, webhooks
from cases.audit import Actor
from cases.choices import WebhookStatus
from cases.models import ApiClient, AuditEvent, WebhookDelivery

HOOK_URL = "https://hooks.example.com/privacy-desk"
OFFICER = Actor.system("tests")


@pytest.fixture
def hooked_client(make_client) -> ApiClient:
    client, _ = make_client("Ticketing", webhook_url=HOOK_URL)
    return ApiClient.objects.get(pk=client.pk)  # with the decrypted secret


@pytest.fixture
def hooked_case(make_case, hooked_client):
    return make_case(api_client=hooked_client, external_ref="TICKET-7")


@pytest.fixture
def delivery(hooked_case, django_capture_on_commit_callbacks) -> WebhookDelivery:
    with django_capture_on_commit_callbacks(execute=False):
        services.verify_identity(hooked_case, actor=OFFICER, method="account_login")
    return WebhookDelivery.objects.get()


def test_a_status_change_records_a_delivery_sent_on_commit(
    hooked_case, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.verify_identity(hooked_case, actor=OFFICER, method="account_login")

    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "case.status_changed"
    assert delivery.case == hooked_case
    assert delivery.status == WebhookStatus.PENDING
    assert delivery.payload["previous_status"] == "new"
    assert delivery.payload["status"] == "verified"
    assert delivery.payload["external_ref"] == "TICKET-7"
    assert len(callbacks) == 1


def test_the_payload_holds_no_personal_data(delivery):
    text = json.dumps(delivery.payload)

    assert "ada.lovelace" not in text and "Lovelace" not in text
    assert "44363657679975868102109072127" not in text


def test_no_delivery_without_a_webhook_url(make_case, make_client):
    client, _ = make_client("Quiet desk")
    case = make_case(api_client=client, external_ref="T-1")

    services.verify_identity(case, actor=OFFICER, method="account_login")

    assert not WebhookDelivery.objects.exists()


def test_no_delivery_for_a_case_no_client_opened(make_case, hooked_client):
    services.verify_identity(make_case(), actor=OFFICER, method="account_login")

    assert not WebhookDelivery.objects.exists()


@responses.activate
def test_the_body_is_signed_with_the_clients_secret(delivery, hooked_client):
    responses.add(responses.POST, HOOK_URL, status=204)

    assert webhooks.deliver(delivery.pk) == "delivered"

    sent = responses.calls[0].request
    expected = hmac.new(hooked_client.webhook_secret.encode(), sent.body, hashlib.sha256)
    assert sent.headers["X-PrivacyDesk-Signature"] == f"sha256={expected.hexdigest()}"
    body = json.loads(sent.body)
    assert str(body["timestamp"]) == sent.headers["X-PrivacyDesk-Timestamp"]
    assert body["event_id"] == sent.headers["X-PrivacyDesk-Delivery"] == str(delivery.uuid)
    assert body["case"]["reference"] == delivery.case.reference
    assert sent.headers["Content-Type"] == "application/json"
    delivery.refresh_from_db()
    assert delivery.status == WebhookStatus.DELIVERED
    assert (delivery.attempts, delivery.last_status_code) == (1, 204)
    assert delivery.delivered_at is not None


@responses.activate
def test_a_failed_attempt_is_retried_with_backoff(delivery):
    responses.add(responses.POST, HOOK_URL, status=500)
    responses.add(responses.POST, HOOK_URL, status=200)

    assert webhooks.deliver(delivery.pk) == "will retry"

    delivery.refresh_from_db()
    assert delivery.status == WebhookStatus.PENDING
    assert (delivery.attempts, delivery.last_status_code) == (1, 500)
    wait = delivery.next_attempt_at - timezone.now()
    assert dt.timedelta(seconds=50) < wait <= dt.timedelta(minutes=1)
    assert webhooks.deliver(delivery.pk) == "nothing to do"  # not due yet

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhooks.deliver_due()

    delivery.refresh_from_db()
    assert delivery.status == WebhookStatus.DELIVERED
    assert delivery.attempts == 2
    assert len(responses.calls) == 2


def test_backoff_doubles_up_to_an_hour():
    assert [webhooks.backoff(n).total_seconds() / 60 for n in (1, 2, 3, 4, 8)] == [
        1, 2, 4, 8, 60,
    ]


@responses.activate
def test_a_connection_error_is_retried(delivery):
    responses.add(responses.POST, HOOK_URL, body=requests.ConnectionError("refused"))

    assert webhooks.deliver(delivery.pk) == "will retry"

    delivery.refresh_from_db()
    assert "ConnectionError" in delivery.last_error
    assert delivery.last_status_code is None


@responses.activate
def test_after_the_last_attempt_the_delivery_fails(delivery, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    responses.add(responses.POST, HOOK_URL, status=503)
    webhooks.deliver(delivery.pk)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())

    assert webhooks.deliver(delivery.pk) == "failed"

    delivery.refresh_from_db()
    assert delivery.status == WebhookStatus.FAILED
    assert delivery.next_attempt_at is None


@responses.activate
def test_a_private_address_is_refused_unless_allowed(delivery, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False

    outcome = webhooks.deliver(delivery.pk, resolver=lambda host, port: ["10.1.2.3"])

    assert outcome == "refused"
    assert not responses.calls
    delivery.refresh_from_db()
    assert delivery.status == WebhookStatus.FAILED
    assert "private or loopback" in delivery.last_error


@responses.activate
def test_a_public_address_is_called_when_private_ones_are_refused(delivery, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    responses.add(responses.POST, HOOK_URL, status=200)

    assert webhooks.deliver(delivery.pk, resolver=lambda h, p: ["93.184.215.14"]) == "delivered"


def test_resend_starts_a_fresh_round_and_is_audited(delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookStatus.FAILED, attempts=8, next_attempt_at=None
    )

    webhooks.resend(delivery, actor=OFFICER)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookStatus.PENDING, 0)
    assert AuditEvent.objects.filter(action="webhook.resent", case=delivery.case).exists()


@responses.activate
def test_a_delivery_abandoned_mid_send_is_picked_up_again(delivery):
    stale = timezone.now() - webhooks.STALE_SENDING - dt.timedelta(seconds=1)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookStatus.SENDING, attempts=1, last_attempt_at=stale
    )
    responses.add(responses.POST, HOOK_URL, status=200)

    webhooks.deliver_due()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookStatus.DELIVERED, 2)


@responses.activate
def test_end_to_end_the_worker_posts_after_commit(
    hooked_case, django_capture_on_commit_callbacks
):
    responses.add(responses.POST, HOOK_URL, status=200)

    with django_capture_on_commit_callbacks(execute=True):
        services.verify_identity(hooked_case, actor=OFFICER, method="account_login")

    assert len(responses.calls) == 1
    assert WebhookDelivery.objects.get().status == WebhookStatus.DELIVERED


def test_the_worker_schedules_exist(db):
    from django_q.models import Schedule

    funcs = set(Schedule.objects.values_list("func", flat=True))

    assert {"cases.webhooks.deliver_due", "cases.api.intake.purge_idempotency_records"} <= funcs


def test_a_sync_pass_writes_the_webhooks_of_its_cases_together(
    make_case, hooked_client, vendor_sandbox, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cases import tasks

    hooked = [make_case(api_client=hooked_client, external_ref=f"TICKET-{n}",
                        actions=["delete"], vendors=["adobe_privacy"]) for n in range(3)]
    plain = make_case(actions=["delete"], vendors=["adobe_privacy"])
    for case in [*hooked, plain]:
        services.submit_case(services.verify_identity(case, actor=OFFICER,
                                                      method="account_login"), actor=OFFICER)
    tasks.send_pending_jobs()
    WebhookDelivery.objects.all().delete()  # the verified/in-progress ones
    with CaptureQueriesContext(connection) as queries, \
            django_capture_on_commit_callbacks(execute=False) as callbacks:
        tasks.sync_vendor_jobs()
    deliveries = WebhookDelivery.objects.order_by("case_id")
    assert [d.payload["external_ref"] for d in deliveries] == ["TICKET-0", "TICKET-1", "TICKET-2"]
    assert {(d.payload["previous_status"], d.payload["status"]) for d in deliveries} == {
        ("in_progress", "completed")}
    assert len(callbacks) == 3  # each delivery still queued on its own
    client_reads = [q for q in queries.captured_queries if 'FROM "cases_apiclient"' in q["sql"]]
    assert len(client_reads) == 1
