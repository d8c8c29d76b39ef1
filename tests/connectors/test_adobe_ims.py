"""Adobe IMS tokens: form POST, caching until shortly before expiry, one refetch on a 401."""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses

from connectors.adobe_ims import (
    IMS_TOKEN_URL,
    MEMORY_SECONDS,
    AccessToken,
    AdobeApi,
    AdobeCredentials,
    AdobeTokenProvider,
    MemoryCache,
)
from connectors.base import AuthError, TransientError, make_session

DATA = Path(__file__).resolve().parent.parent / "data"
SECRET = "p8e-Cl13nt-S3cret-value"
API = "https://platform.adobe.io/data/core/privacy"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


class RecordingCache(MemoryCache):
    """MemoryCache that remembers timeouts and can expire everything on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: dict[str, float | None] = {}
        self.reads: list[str] = []

    def get(self, key: str) -> Any:
        self.reads.append(key)
        return super().get(key)

    def set(self, key: str, value: Any, timeout: float | None) -> None:
        self.timeouts[key] = timeout
        super().set(key, value, timeout)

    def expire_all(self) -> None:
        self._items.clear()


def credentials(**overrides: Any) -> AdobeCredentials:
    values = {
        "client_id": "client-abc",
        "client_secret": SECRET,
        "org_id": "ORG1@AdobeOrg",
        "scopes": "openid,AdobeID,read_organizations",
    }
    return AdobeCredentials(**{**values, **overrides})


def provider(cache: MemoryCache | None = None) -> AdobeTokenProvider:
    return AdobeTokenProvider(
        credentials(),
        cache or RecordingCache(),
        session=make_session(retry_post=True, backoff_factor=0),
    )


def token_reply(token: str = "tok-1", expires_in: int = 86399) -> None:  # noqa: S107
    responses.post(
        IMS_TOKEN_URL,
        json={"access_token": token, "token_type": "bearer", "expires_in": expires_in},
    )


@responses.activate
def test_fetch_posts_client_credentials_form() -> None:
    responses.post(IMS_TOKEN_URL, json=load("ims_token.json"))
    token = provider().fetch()
    assert token.access_token == load("ims_token.json")["access_token"]
    assert token.expires_in == 86399
    request = responses.calls[0].request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body) == {
        "grant_type": ["client_credentials"],
        "client_id": ["client-abc"],
        "client_secret": [SECRET],
        "scope": ["openid,AdobeID,read_organizations"],
    }


@responses.activate
def test_token_is_cached_until_five_minutes_before_expiry() -> None:
    token_reply()
    cache = RecordingCache()
    tokens = provider(cache)
    assert tokens.token() == "tok-1"
    assert tokens.token() == "tok-1"
    assert len(responses.calls) == 1
    assert cache.timeouts[tokens.cache_key] == 86399 - 300


def test_cache_key_holds_no_secret_and_no_client_id() -> None:
    key = provider().cache_key
    assert SECRET not in key and "client-abc" not in key
    assert key != AdobeTokenProvider(credentials(client_id="other"), MemoryCache()).cache_key


@responses.activate
def test_expired_token_is_fetched_again() -> None:
    token_reply("tok-1")
    token_reply("tok-2")
    cache = RecordingCache()
    tokens = provider(cache)
    now = [0.0]
    tokens.clock = lambda: now[0]
    assert tokens.token() == "tok-1"
    cache.expire_all()
    now[0] += MEMORY_SECONDS - 1
    assert tokens.token() == "tok-1"  # still held in memory: valid for EXPIRY_MARGIN more
    now[0] += 1
    assert tokens.token() == "tok-2"


@responses.activate
def test_a_pass_reads_the_shared_cache_once_a_minute_not_on_every_call() -> None:
    token_reply("tok-1")
    cache = RecordingCache()
    provider(cache).token()  # another worker fetched it
    tokens = provider(cache)
    now = [0.0]
    tokens.clock = lambda: now[0]
    reads = len(cache.reads)
    for _ in range(100):
        assert tokens.token() == "tok-1"
    now[0] += MEMORY_SECONDS
    tokens.token()
    assert len(cache.reads) - reads == 2
    assert len(responses.calls) == 1


@responses.activate
def test_token_is_shared_through_the_cache_between_processes() -> None:
    token_reply()
    shared = RecordingCache()
    assert provider(shared).token() == provider(shared).token() == "tok-1"
    assert len(responses.calls) == 1


@responses.activate
def test_invalidate_forces_a_new_token() -> None:
    token_reply("tok-1")
    token_reply("tok-2")
    tokens = provider()
    tokens.token()
    tokens.invalidate()
    assert tokens.token() == "tok-2"


def test_short_lived_tokens_are_cached_for_half_their_life() -> None:
    assert AccessToken("t", 400).cache_seconds(300) == 200
    assert AccessToken("t", 86399).cache_seconds(300) == 86099


@responses.activate
def test_token_post_is_retried_on_503_because_it_is_idempotent() -> None:
    responses.post(IMS_TOKEN_URL, status=503)
    token_reply()
    assert provider().token() == "tok-1"
    assert len(responses.calls) == 2


@responses.activate
def test_bad_client_secret_is_an_auth_error_naming_the_settings_without_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    responses.post(IMS_TOKEN_URL, status=400, json=load("ims_error_invalid_client.json"))
    with pytest.raises(AuthError) as caught:
        provider().token()
    message = caught.value.message
    assert "invalid_client" in message and "ADOBE_CLIENT_SECRET" in message
    assert caught.value.code == "invalid_client"
    printed = (
        str(caught.value) + repr(caught.value) + "".join(traceback.format_exception(caught.value))
    )
    assert SECRET not in printed and SECRET not in caplog.text


@responses.activate
def test_ims_outage_is_transient() -> None:
    responses.post(IMS_TOKEN_URL, status=500, body="oops")
    with pytest.raises(TransientError) as caught:
        provider().token()
    assert caught.value.status == 500
    assert len(responses.calls) == 4  # first try + 3 retries


@responses.activate
def test_token_answer_without_access_token_is_malformed() -> None:
    responses.post(IMS_TOKEN_URL, json={"token_type": "bearer"})
    with pytest.raises(TransientError) as caught:
        provider().token()
    assert caught.value.code == "malformed_response"


def test_credentials_hide_the_secret_and_split_scopes() -> None:
    creds = credentials()
    assert SECRET not in repr(creds)
    assert creds.scopes == ("openid", "AdobeID", "read_organizations")
    assert creds.token_url == IMS_TOKEN_URL


def test_missing_credentials_name_the_environment_variables() -> None:
    with pytest.raises(AuthError) as caught:
        credentials(client_secret="", org_id="")
    assert "ADOBE_CLIENT_SECRET" in caught.value.message
    assert "ADOBE_ORG_ID" in caught.value.message
    assert caught.value.code == "not_configured"


# --------------------------------------------------------------------------- AdobeApi


def api(tokens: AdobeTokenProvider) -> AdobeApi:
    return AdobeApi(tokens, API, session=make_session(backoff_factor=0))


@responses.activate
def test_adobe_api_sends_bearer_api_key_and_org_headers() -> None:
    token_reply()
    responses.get(f"{API}/jobs", json={"totalRecords": 0, "jobDetails": []})
    api(provider()).call("GET", "/jobs", operation="list_jobs")
    headers = responses.calls[1].request.headers
    assert headers["Authorization"] == "Bearer tok-1"
    assert headers["x-api-key"] == "client-abc"
    assert headers["x-gw-ims-org-id"] == "ORG1@AdobeOrg"
    assert "Content-Type" not in headers


@responses.activate
def test_401_refetches_the_token_once_and_retries() -> None:
    token_reply("revoked")
    token_reply("fresh")
    responses.get(f"{API}/jobs", status=401, json=load("adobe_error_gateway_401.json"))
    responses.get(f"{API}/jobs", json={"ok": True})
    assert api(provider()).call("GET", "/jobs", operation="list_jobs") == {"ok": True}
    sent = [
        c.request.headers.get("Authorization")
        for c in responses.calls
        if c.request.url.startswith(API)
    ]
    assert sent == ["Bearer revoked", "Bearer fresh"]


@responses.activate
def test_second_401_is_an_auth_error_and_not_retried_again() -> None:
    token_reply("a")
    token_reply("b")
    responses.get(f"{API}/jobs", status=401, json=load("adobe_error_gateway_401.json"))
    with pytest.raises(AuthError) as caught:
        api(provider()).call("GET", "/jobs", operation="list_jobs")
    assert len([c for c in responses.calls if c.request.url.startswith(API)]) == 2
    assert "Oauth token is not valid" in caught.value.message
    assert "ADOBE_CLIENT_SECRET" in caught.value.message
    assert caught.value.__context__ is None


@responses.activate
def test_403_does_not_refetch_the_token() -> None:
    token_reply()
    responses.get(f"{API}/jobs", status=403, json={"title": "Forbidden"})
    with pytest.raises(AuthError) as caught:
        api(provider()).call("GET", "/jobs", operation="list_jobs")
    assert len(responses.calls) == 2  # one token, one API call
    assert "product profile" in caught.value.message
