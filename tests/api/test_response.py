"""The case's `response` in the API: null before sending, then sent_at, expires_at, downloads;
its `messages` never carry the recipient."""

from django.test import Client

from cases import responses
from tests.api.conftest import http_for


def test_response_is_null_before_sending_then_dates_and_downloads(
    ready_case, system_actor, make_client
):
    client, key = make_client(scopes=["cases:read", "cases:all"])
    api = http_for(key)
    url = f"/api/v1/cases/{ready_case.pk}/"

    assert api.get(url).json()["response"] is None
    responses.prepare(ready_case, actor=system_actor)
    assert api.get(url).json()["response"] is None  # a draft is not a response

    package = responses.send(ready_case, actor=system_actor)
    body = api.get(url).json()
    token = package.current_token()
    assert body["response"]["downloads"] == 0
    assert body["response"]["sent_at"].startswith(package.sent_at.date().isoformat())
    assert body["response"]["expires_at"].startswith(token.expires_at.date().isoformat())

    link = next(w for w in ready_case.messages.get(kind="response").body.split()
                if "/portal/response/" in w).removeprefix("https://desk.example.org")
    Client().post(link + "download/")
    body = api.get(url).json()
    assert body["response"]["downloads"] == 1
    assert set(body["response"]) == {"sent_at", "expires_at", "downloads"}
    for message in body["messages"]:
        assert set(message) == {"kind", "status", "sent_at"}
    assert "ada.lovelace" not in str(body) and "/portal/" not in str(body)


def test_the_schema_documents_response(db):
    from rest_framework.test import APIClient

    schema = APIClient().get("/api/v1/schema/?format=json").json()
    case = schema["components"]["schemas"]["Case"]["properties"]
    assert "response" in case
