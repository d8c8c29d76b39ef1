import pytest
from django.contrib.auth.models import User

import cases.api.admin  # noqa: F401  (registers the API admin until cases/admin.py imports it)
from cases.choices import WebhookStatus
from cases.models import ApiClient, AuditEvent, WebhookDelivery
from tests.api.conftest import http_for


@pytest.fixture
def admin_http(client, db):
    user = User.objects.create_superuser("root", password="correct horse battery")
    client.force_login(user)
    return client


def test_creating_a_client_shows_its_key_once(admin_http):
    response = admin_http.post(
        "/admin/cases/apiclient/add/",
        {"name": "Ticketing", "scopes": ["cases:read", "cases:write"], "webhook_url": "",
         "is_active": "on"},
        follow=True,
    )

    assert response.status_code == 200
    texts = [m.message for m in response.context["messages"]]
    key = next(t for t in texts if "API key" in t).split("<code>")[1].split("</code>")[0]
    client = ApiClient.objects.get(name="Ticketing")
    assert client.scopes == ["cases:read", "cases:write"]
    assert http_for(key).get("/api/v1/cases/").status_code == 200
    assert AuditEvent.objects.filter(action="api_client.created").exists()
    page = admin_http.get(f"/admin/cases/apiclient/{client.pk}/change/").content.decode()
    assert key not in page


def test_revoke_action_revokes_and_audits(admin_http, make_client):
    client, key = make_client("Ticketing")

    admin_http.post("/admin/cases/apiclient/",
                    {"action": "revoke", "_selected_action": [client.pk]})

    client.refresh_from_db()
    assert client.revoked_at is not None
    assert http_for(key).get("/api/v1/cases/").status_code == 401
    assert AuditEvent.objects.filter(action="api_client.revoked").exists()


def test_editing_scopes_is_audited(admin_http, make_client):
    client, _ = make_client("Ticketing")

    admin_http.post(f"/admin/cases/apiclient/{client.pk}/change/",
                    {"name": "Ticketing", "scopes": ["cases:read"], "webhook_url": "",
                     "is_active": "on"})

    client.refresh_from_db()
    assert client.scopes == ["cases:read"]
    event = AuditEvent.objects.get(action="api_client.updated")
    assert event.details["changed"] == ["scopes"]


def test_deliveries_are_listed_and_can_be_resent(admin_http, make_client, make_case):
    client, _ = make_client("Ticketing", webhook_url="https://hooks.example.com/x")
    case = make_case(api_client=client, external_ref="T-1")
    delivery = WebhookDelivery.objects.create(
        client=client, case=case, event="case.status_changed", payload={"id": case.pk},
        status=WebhookStatus.FAILED, attempts=8,
    )

    listing = admin_http.get("/admin/cases/webhookdelivery/")
    admin_http.post("/admin/cases/webhookdelivery/",
                    {"action": "resend", "_selected_action": [delivery.pk]})

    assert listing.status_code == 200
    assert case.reference in listing.content.decode()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookStatus.PENDING, 0)
    assert AuditEvent.objects.filter(action="webhook.resent").exists()
