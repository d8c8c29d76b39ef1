"""API fixtures: clients with keys, and a DRF test client that sends one."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from cases.api import clients
from cases.audit import Actor
from cases.choices import ApiScope
from cases.models import ApiClient

ALL_SCOPES = [ApiScope.CASES_READ, ApiScope.CASES_WRITE, ApiScope.RESULTS_READ]


def case_body(**overrides) -> dict:
    body = {
        "external_ref": "TICKET-4711",
        "regulation": "gdpr",
        "actions": ["access", "delete"],
        "received_at": "2026-01-20T10:00:00Z",
        "subject": {"name": "Ada Lovelace", "email": "ada.lovelace@example.org"},
        "identities": [
            {"namespace": "email", "value": "ada.lovelace@example.org", "type": "standard"},
            {"namespace": "ecid", "value": "44363657679975868102109072127"},
        ],
    }
    body.update(overrides)
    return body


@pytest.fixture(autouse=True)
def _api_settings(settings):
    # Throttle history lives in the cache and client ids repeat between tests.
    cache.clear()
    settings.API_THROTTLE_RATE = "10000/min"
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    # case_body() has a fixed receipt date that must not age out; the limit's tests set it.
    settings.MAX_RECEIPT_AGE_DAYS = 100 * 365
    yield
    cache.clear()


@pytest.fixture
def make_client(db):
    """make_client(name, scopes=..., webhook_url=...) -> (ApiClient, key)."""

    def make(name: str = "Ticketing", scopes=None, **fields) -> tuple[ApiClient, str]:
        client = ApiClient(name=name, scopes=list(ALL_SCOPES if scopes is None else scopes),
                           **fields)
        credentials = clients.create_client(client, actor=Actor.system("tests"))
        return client, credentials.key

    return make


def http_for(key: str) -> APIClient:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return http


@pytest.fixture
def ticketing(make_client) -> ApiClient:
    client, key = make_client("Ticketing")
    client.key = key  # for tests that need it raw
    return client


@pytest.fixture
def api(ticketing) -> APIClient:
    return http_for(ticketing.key)
