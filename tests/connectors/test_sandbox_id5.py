"""Vendor sandbox: ID5 Privacy Requests API (deletion, status, errors, daily limits)."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid

import pytest
import requests

TIMEOUT = 5
TOKEN = "sandbox-id5-token"
JSON_UTF8 = {"Content-Type": "application/json; charset=UTF-8"}


def deletion_url(sandbox, partner: int | str = 173, token: str | None = TOKEN) -> str:
    url = f"{sandbox.url}/id5/partners/v1/{partner}/privacy/requests/deletion"
    return url if token is None else f"{url}?token={token}"


def status_url(sandbox, request_id: str, partner: int = 173, token: str = TOKEN) -> str:
    return f"{sandbox.url}/id5/partners/v1/{partner}/privacy/requests/{request_id}?token={token}"


def delete(
    sandbox, body: dict | None = None, url: str | None = None, headers: dict | None = None
) -> requests.Response:
    data = json.dumps(
        body if body is not None else {"email": "ada@example.org", "jurisdiction": "GDPR"}
    )
    return requests.post(
        url or deletion_url(sandbox), data=data, headers=headers or JSON_UTF8, timeout=TIMEOUT
    )


def status(sandbox, request_id: str) -> dict:
    response = requests.get(status_url(sandbox, request_id), timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response, status_code: int, code: str, kind: str, message: str) -> None:
    assert response.status_code == status_code, response.text
    assert response.json() == {"error": {"code": code, "type": kind, "message": message}}


def test_deletion_returns_a_32_hex_id(sandbox):
    response = delete(sandbox)
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", response.json()["id"])
    assert list(response.json()) == ["id"]


def test_missing_token_is_401(sandbox):
    assert_error(
        delete(sandbox, url=deletion_url(sandbox, token=None)),
        401,
        "api_token_invalid",
        "authentication_error",
        "No API token provided",
    )


def test_wrong_token_is_403_and_echoed_like_id5_does(sandbox):
    assert_error(
        delete(sandbox, url=deletion_url(sandbox, token="guess")),
        403,
        "api_token_not_authorized",
        "authentication_error",
        "Api token guess does not have access to this resource",
    )


@pytest.mark.parametrize("partner", [999, "abc"])
def test_unknown_partner_is_400_with_the_vendor_typo(sandbox, partner):
    assert_error(
        delete(sandbox, url=deletion_url(sandbox, partner=partner)),
        400,
        "partiner_id_invalid",
        "authentication_error",
        f"Invalid partner id {partner} provided",
    )


def test_partner_and_token_are_configurable(make_sandbox):
    server = make_sandbox(id5_partner_id=555, id5_token="t0k")
    assert delete(server, url=deletion_url(server, partner=555, token="t0k")).status_code == 200
    assert delete(server, url=deletion_url(server, partner=173, token="t0k")).status_code == 400


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=ISO-8859-1"],
)
def test_content_type_must_be_json_utf8(sandbox, content_type):
    response = delete(sandbox, headers={"Content-Type": content_type})
    assert_error(
        response,
        400,
        "request_format_invalid",
        "invalid_request_error",
        "application/json; charset=UTF-8 POST required",
    )


def test_bare_application_json_is_accepted(sandbox):
    assert delete(sandbox, headers={"Content-Type": "application/json"}).status_code == 200


@pytest.mark.parametrize("raw", ["", "not json", "[1, 2]"])
def test_missing_json_body_is_400(sandbox, raw):
    response = requests.post(deletion_url(sandbox), data=raw, headers=JSON_UTF8, timeout=TIMEOUT)
    assert_error(
        response,
        400,
        "request_format_invalid",
        "invalid_request_error",
        "Missing required JSON body",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"email": "ada@example.org"}, "Missing required parameter 'jurisdiction'"),
        ({"jurisdiction": "GDPR"}, "Missing one of parameters: ['id5id', 'email', 'maid']"),
        (
            {"jurisdiction": "gdpr", "id5id": "ID5*short"},
            "Provided ID5ID [ID5*short] cannot be decrypted",
        ),
        (
            {"jurisdiction": "ccpa", "id5id": "ID6-12345678"},
            "Provided ID5ID [ID6-12345678] is not a valid one",
        ),
        (
            {"jurisdiction": "GDPR", "maid": "not-a-uuid"},
            "Provided maid [not-a-uuid] is not a valid one",
        ),
        (
            {"jurisdiction": "LGPD", "email": "a@b.c"},
            "Provided jurisdiction [LGPD] is not a valid one",
        ),
    ],
)
def test_user_objects_are_validated(sandbox, body, message):
    assert_error(delete(sandbox, body), 400, "user_objects_invalid", "validation_error", message)
    assert sandbox.state.id5_requests == {}


@pytest.mark.parametrize(
    "body",
    [
        {"jurisdiction": "ccpa", "id5id": "ID5*" + "A" * 40},
        {"jurisdiction": "GDPR", "id5id": "ID5-abcdef123456"},
        {"jurisdiction": "GDPR", "maid": "580d2b4c-29a5-7a7b-85dc-44132c023ac8"},
        {"jurisdiction": "GDPR", "partnerUid": "crm-42"},
        {"jurisdiction": "GDPR", "email": hashlib.sha256(b"x@example.org").hexdigest()},
    ],
)
def test_each_identifier_kind_is_accepted(sandbox, body):
    assert delete(sandbox, body).status_code == 200


def test_one_request_per_identifier_per_utc_day(sandbox):
    assert delete(sandbox, {"jurisdiction": "GDPR", "email": "Ada.Lovelace+x@gmail.com"}).ok
    # The same person, hashed after ID5's normalisation: the same identifier.
    digest = hashlib.sha256(b"adalovelace@gmail.com").hexdigest()
    again = delete(sandbox, {"jurisdiction": "GDPR", "email": digest, "partnerUid": "p1"})
    assert_error(
        again,
        403,
        "api_rate_limit_error",
        "rate_limit_error",
        "Limit of 1 request daily allowed per email has been reached",
    )
    # The refused request did not use up partnerUid p1.
    assert delete(sandbox, {"jurisdiction": "GDPR", "partnerUid": "p1"}).ok
    sandbox.advance(seconds=86400)
    assert delete(sandbox, {"jurisdiction": "GDPR", "email": digest}).ok


@pytest.mark.parametrize(
    "body",
    [
        {"id5id": "ID5-abcdef123456"},
        {"maid": "580D2B4C-29A5-7A7B-85DC-44132C023AC8"},
        {"partnerUid": "crm-42"},
    ],
)
def test_identifier_limit_applies_to_every_kind(sandbox, body):
    kind = next(iter(body))
    assert delete(sandbox, {"jurisdiction": "GDPR", **body}).ok
    repeat = {"jurisdiction": "CCPA", **{k: v.lower() for k, v in body.items()}}
    if kind == "id5id":
        repeat = {"jurisdiction": "CCPA", **body}
    assert_error(
        delete(sandbox, repeat),
        403,
        "api_rate_limit_error",
        "rate_limit_error",
        f"Limit of 1 request daily allowed per {kind} has been reached",
    )


def test_partner_daily_limit(make_sandbox):
    server = make_sandbox(id5_partner_daily_limit=2)
    for n in range(2):
        assert delete(server, {"jurisdiction": "GDPR", "partnerUid": f"u{n}"}).ok
    assert_error(
        delete(server, {"jurisdiction": "GDPR", "partnerUid": "u9"}),
        403,
        "api_rate_limit_error",
        "rate_limit_error",
        "Limit of 2 requests daily allowed per partner has been reached",
    )
    server.advance(seconds=86400)
    assert delete(server, {"jurisdiction": "GDPR", "partnerUid": "u9"}).ok


def test_default_partner_limit_is_3000(sandbox):
    sandbox.state.id5_usage[f"{sandbox.state.clock.utc_day()}|partner|173"] = 2999
    assert delete(sandbox).ok
    assert delete(sandbox, {"jurisdiction": "GDPR", "partnerUid": "x"}).json()["error"][
        "message"
    ] == ("Limit of 3,000 requests daily allowed per partner has been reached")


def test_status_walks_created_started_done_sent(make_sandbox):
    server = make_sandbox(speed=None)
    body = {"jurisdiction": "GDPR", "email": "ada@example.org", "replyToEmail": "dpo@example.org"}
    request_id = delete(server, body).json()["id"]
    seen = []
    for _ in range(4):
        data = status(server, request_id)
        seen.append((data["jobStatus"], data["processingResult"], data["emailSentUnixTimestamp"]))
        server.advance(steps=1)
    assert [s[:2] for s in seen] == [
        ("CREATED", "NONE"),
        ("STARTED", "NONE"),
        ("DONE", "DELETE_DELETED"),
        ("SENT", "DELETE_DELETED"),
    ]
    assert [s[2] is None for s in seen] == [True, True, True, False]
    assert abs(seen[3][2] / 1000 - time.time()) < 60  # epoch milliseconds
    assert set(status(server, request_id)) == {
        "id",
        "jobStatus",
        "processingResult",
        "emailSentUnixTimestamp",
    }


def test_without_reply_address_done_is_final(sandbox):
    request_id = delete(sandbox).json()["id"]
    assert status(sandbox, request_id)["jobStatus"] == "DONE"


@pytest.mark.parametrize(
    ("body", "job_status", "result"),
    [
        ({"partnerUid": "sandbox-nodata-1"}, "DONE", "DELETE_NO_DATA"),
        ({"partnerUid": "sandbox-failed-1"}, "FAILED", "NONE"),
        (
            {"partnerUid": "p", "replyToEmail": "sandbox-send-failed@example.org"},
            "SEND_FAILED",
            "DELETE_DELETED",
        ),
    ],
)
def test_markers_choose_the_outcome(sandbox, body, job_status, result):
    request_id = delete(sandbox, {"jurisdiction": "GDPR", **body}).json()["id"]
    data = status(sandbox, request_id)
    assert (data["jobStatus"], data["processingResult"]) == (job_status, result)


def test_status_errors(sandbox):
    bad = requests.get(status_url(sandbox, "not-a-uuid"), timeout=TIMEOUT)
    assert_error(
        bad, 400, "user_object_invalid", "validation_error", "provided job id is not a valid UUID"
    )
    unknown = requests.get(status_url(sandbox, "a8b6ccc4ee35ddaf5a5bb0f5c696dbd3"), timeout=TIMEOUT)
    assert_error(
        unknown, 404, "user_objects_invalid", "invalid_request_error", "provided job UUID not found"
    )
    no_token = requests.get(status_url(sandbox, "x").split("?")[0], timeout=TIMEOUT)
    assert no_token.status_code == 401


def test_status_accepts_the_dashed_uuid_form(sandbox):
    request_id = delete(sandbox).json()["id"]
    dashed = str(uuid.UUID(hex=request_id))
    assert "-" in dashed
    assert status(sandbox, dashed)["id"] == request_id


def test_token_never_reaches_the_request_log(sandbox):
    delete(sandbox)
    delete(sandbox, url=deletion_url(sandbox, token="wrong-secret-token"))
    dump = json.dumps(sandbox.requests("id5"))
    assert TOKEN not in dump and "wrong-secret-token" not in dump
    assert "token=***" in sandbox.requests("id5")[0]["path"]
