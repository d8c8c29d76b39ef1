import pytest
from rest_framework.test import APIClient

from cases.api import clients
from cases.audit import Actor
from cases.choices import ApiScope
from cases.models import ApiClient, AuditEvent, hash_api_key
from tests.api.conftest import case_body, http_for

LIST_URL = "/api/v1/cases/"


def test_missing_key_is_401_with_the_scheme_named(db):
    response = APIClient().get(LIST_URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Api-Key realm="privacy-desk"'
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "header",
    [
        "Api-Key pdk_00000000_wrong",
        "Api-Key not-even-shaped-like-a-key",
        "Api-Key",
        "Api-Key two parts",
        "Bearer something",
    ],
)
def test_wrong_or_malformed_key_is_401(ticketing, header):
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=header)

    response = http.get(LIST_URL)

    assert response.status_code == 401
    assert "WWW-Authenticate" in response


def test_right_prefix_with_wrong_secret_is_401(ticketing):
    prefix = ticketing.key.split("_")[1]

    response = http_for(f"pdk_{prefix}_{'x' * 43}").get(LIST_URL)

    assert response.status_code == 401


def test_revoked_key_is_401_and_revocation_is_audited(ticketing):
    clients.revoke_client(ticketing, actor=Actor.system("tests"))

    response = http_for(ticketing.key).get(LIST_URL)

    assert response.status_code == 401
    event = AuditEvent.objects.get(action="api_client.revoked")
    assert event.object_id == str(ticketing.pk)


def test_suspended_client_is_401(ticketing):
    ApiClient.objects.filter(pk=ticketing.pk).update(is_active=False)

    assert http_for(ticketing.key).get(LIST_URL).status_code == 401


def test_rotated_key_replaces_the_old_one(ticketing):
    new_key = clients.rotate_key(ticketing, actor=Actor.system("tests"))

    assert http_for(ticketing.key).get(LIST_URL).status_code == 401
    assert http_for(new_key).get(LIST_URL).status_code == 200


def test_only_a_hash_of_the_key_is_stored(ticketing):
    stored = ApiClient.objects.get(pk=ticketing.pk)

    assert stored.key_hash == hash_api_key(ticketing.key)
    assert ticketing.key not in (stored.key_hash, stored.key_prefix)


@pytest.mark.parametrize(
    ("scopes", "method", "url", "missing"),
    [
        ([ApiScope.CASES_WRITE], "get", LIST_URL, "cases:read"),
        ([ApiScope.CASES_READ], "post", LIST_URL, "cases:write"),
        ([ApiScope.CASES_READ], "post", "/api/v1/cases/1/submit/", "cases:write"),
        ([ApiScope.CASES_WRITE], "get", "/api/v1/cases/1/events/", "cases:read"),
        ([ApiScope.CASES_READ], "get", "/api/v1/cases/1/results/1/download/", "results:read"),
    ],
)
def test_missing_scope_is_403_naming_it(make_client, scopes, method, url, missing):
    _, key = make_client("Narrow", scopes=scopes)

    response = getattr(http_for(key), method)(url, case_body(), format="json")

    assert response.status_code == 403
    assert f"'{missing}'" in response.json()["detail"]


def test_over_the_rate_is_429_with_retry_after(api, settings):
    settings.API_THROTTLE_RATE = "3/min"

    statuses = [api.get(LIST_URL).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = api.get(LIST_URL)
    assert int(response["Retry-After"]) > 0


def test_the_rate_is_counted_per_client(api, make_client, settings):
    settings.API_THROTTLE_RATE = "2/min"
    _, other_key = make_client("Other")
    for _ in range(2):
        api.get(LIST_URL)

    assert api.get(LIST_URL).status_code == 429
    assert http_for(other_key).get(LIST_URL).status_code == 200


@pytest.mark.parametrize(("method", "url"), [("put", "/api/v1/cases/1/"),
                                             ("delete", "/api/v1/cases/1/"),
                                             ("options", LIST_URL)])
def test_a_method_the_api_does_not_offer_is_405(api, method, url):
    assert getattr(api, method)(url).status_code == 405


def test_a_method_not_offered_still_needs_a_key(db):
    assert APIClient().put("/api/v1/cases/1/").status_code == 401
