"""ID5 deletion requests: email hashing, the wire format, statuses and the error table."""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from cases.choices import JobStatus
from connectors.base import (
    AuthError,
    ConnectorError,
    InvalidInput,
    PermanentError,
    RateLimited,
    TransientError,
    make_session,
)
from connectors.id5 import (
    ID5_BASE_URL,
    DeletionRequest,
    ID5Client,
    ID5Config,
    hash_email,
    jurisdiction_for,
    normalise_email,
)

DATA = Path(__file__).resolve().parent.parent / "data"
TOKEN = "id5-PermanentT0ken-9f8e7d"
PARTNER = "173"
REQUESTS = f"{ID5_BASE_URL}/partners/v1/{PARTNER}/privacy/requests"
DELETION = f"{REQUESTS}/deletion"
JOB_ID = "a8b6ccc4ee35ddaf5a5bb0f5c696dbd3"
MAID = "580d2b4c-29a5-7a7b-85dc-44132c023ac8"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def error_row(name: str) -> tuple[int, dict[str, Any]]:
    row = load("id5_errors.json")[name]
    return row["status"], json.loads(json.dumps(row["body"]).replace("{TOKEN}", TOKEN))


@pytest.fixture
def client() -> ID5Client:
    return ID5Client(ID5Config(PARTNER, TOKEN), session=make_session(backoff_factor=0))


def everything_printed(exc: BaseException) -> str:
    return " ".join([str(exc), repr(exc), "".join(traceback.format_exception(exc))])


# --------------------------------------------------------------------------- email hashing


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("  John.Doe@Example.COM \n", "john.doe@example.com"),
        ("john.doe@gmail.com", "johndoe@gmail.com"),
        ("John.Doe+newsletter@Gmail.com", "johndoe@gmail.com"),
        ("j.o.h.n+a+b@googlemail.com", "john@gmail.com"),
        ("first.last+tag@outlook.com", "first.last+tag@outlook.com"),
        ("no-at-sign", "no-at-sign"),
    ],
)
def test_email_normalisation_follows_id5_rules(raw: str, normalised: str) -> None:
    assert normalise_email(raw) == normalised


def test_hash_is_sha256_of_the_normalised_email() -> None:
    expected = hashlib.sha256(b"johndoe@gmail.com").hexdigest()
    assert hash_email(" John.Doe+promo@GoogleMail.com ") == expected
    assert len(expected) == 64


def test_already_hashed_values_pass_through() -> None:
    hashed = hashlib.sha256(b"someone@example.com").hexdigest()
    assert hash_email(hashed) == hashed
    assert hash_email(f" {hashed.upper()} ") == hashed


@pytest.mark.parametrize(
    ("regulation", "jurisdiction"),
    [("gdpr", "GDPR"), ("ccpa", "CCPA"), ("cpra_ca_usa", "CCPA"), ("lgpd_bra", None)],
)
def test_regulation_routes_to_an_id5_jurisdiction(regulation: str,
                                                  jurisdiction: str | None) -> None:
    assert jurisdiction_for(regulation) == jurisdiction


# --------------------------------------------------------------------------- deletion


@responses.activate
def test_deletion_request_wire_format(client: ID5Client) -> None:
    responses.post(DELETION, json=load("id5_deletion_created.json"))
    created = client.request_deletion(DeletionRequest(
        "gdpr", email="John.Doe+x@gmail.com", id5id="ID5*AbCdEfGhIjKlMnOpQrStUv", maid=MAID,
        partner_uid="crm-42", reply_to_email="dpo@example.com"))
    assert created.request_id == JOB_ID
    request = responses.calls[0].request
    url = urlsplit(request.url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == DELETION
    assert parse_qs(url.query) == {"token": [TOKEN]}
    assert request.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert json.loads(request.body) == {
        "jurisdiction": "GDPR",
        "email": hashlib.sha256(b"johndoe@gmail.com").hexdigest(),
        "id5id": "ID5*AbCdEfGhIjKlMnOpQrStUv",
        "maid": MAID,
        "partnerUid": "crm-42",
        "replyToEmail": "dpo@example.com",
    }


@responses.activate
def test_plain_email_is_sent_when_hashing_is_off(client: ID5Client) -> None:
    responses.post(DELETION, json=load("id5_deletion_created.json"))
    client.request_deletion(DeletionRequest("CCPA", email=" a@example.com ", hash_email=False))
    assert json.loads(responses.calls[0].request.body) == {
        "jurisdiction": "CCPA", "email": "a@example.com"}


@pytest.mark.parametrize(
    ("request_kwargs", "message"),
    [
        ({"jurisdiction": "LGPD", "email": "a@example.com"}, "GDPR or CCPA"),
        ({"jurisdiction": "GDPR"}, "email, id5id, maid or partnerUid"),
        ({"jurisdiction": "GDPR", "id5id": "XYZ-123"}, "starts with 'ID5\\*'"),
        ({"jurisdiction": "GDPR", "maid": "not-a-uuid"}, "must be a UUID"),
        ({"jurisdiction": "GDPR", "maid": "580d2b4c29a57a7b85dc44132c023ac8"}, "must be a UUID"),
        ({"jurisdiction": "GDPR", "email": "nobody"}, "neither an address"),
        ({"jurisdiction": "GDPR", "partner_uid": "u1", "reply_to_email": "x"}, "replyToEmail"),
    ],
)
@responses.activate
def test_invalid_deletions_are_refused_before_sending(
        client: ID5Client, request_kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        client.request_deletion(DeletionRequest(**request_kwargs))
    assert len(responses.calls) == 0


def test_identifier_values_stay_out_of_reprs() -> None:
    request = DeletionRequest("GDPR", email="secret.person@example.com", maid=MAID)
    assert "secret.person" not in repr(request) and MAID not in repr(request)
    assert TOKEN not in repr(ID5Config(PARTNER, TOKEN))


def test_missing_configuration_names_the_settings() -> None:
    with pytest.raises(AuthError, match="ID5_PARTNER_ID and ID5_TOKEN"):
        ID5Config("", "")


# --------------------------------------------------------------------------- status


@responses.activate
def test_status_request_wire_format_and_fields(client: ID5Client) -> None:
    responses.get(f"{REQUESTS}/{JOB_ID}", json=load("id5_status_sent.json"))
    job = client.get_status(JOB_ID)
    assert parse_qs(urlsplit(responses.calls[0].request.url).query) == {"token": [TOKEN]}
    assert job.request_id == JOB_ID
    assert (job.status, job.vendor_status) == (JobStatus.COMPLETE, "SENT")
    assert job.processing_result == "DELETE_DELETED"
    assert job.email_sent_at == datetime(2022, 8, 31, 8, 11, 5, 437000, tzinfo=UTC)
    assert job.email_failed is False


@pytest.mark.parametrize(
    ("job_status", "expected", "email_failed"),
    [
        ("CREATED", JobStatus.SUBMITTED, False),
        ("STARTED", JobStatus.PROCESSING, False),
        ("DONE", JobStatus.COMPLETE, False),
        ("SENT", JobStatus.COMPLETE, False),
        ("SEND_FAILED", JobStatus.COMPLETE, True),
        ("FAILED", JobStatus.ERROR, False),
        ("CANCELLED", JobStatus.CANCELLED, False),
        ("SOMETHING_NEW", JobStatus.PROCESSING, False),
    ],
)
@responses.activate
def test_job_statuses_map_to_normalised_status(client: ID5Client, job_status: str,
                                               expected: JobStatus, email_failed: bool) -> None:
    responses.get(f"{REQUESTS}/{JOB_ID}", json={
        "id": JOB_ID, "jobStatus": job_status, "processingResult": "NONE",
        "emailSentUnixTimestamp": None})
    job = client.get_status(JOB_ID)
    assert (job.status, job.email_failed, job.processing_result) == (
        expected, email_failed, "NONE")
    assert job.email_sent_at is None


# --------------------------------------------------------------------------- error table


@pytest.mark.parametrize(
    ("row", "operation", "error_class", "code"),
    [
        ("api_token_invalid", "deletion", AuthError, "api_token_invalid"),
        ("partiner_id_invalid", "deletion", AuthError, "partiner_id_invalid"),
        ("api_token_not_authorized", "deletion", AuthError, "api_token_not_authorized"),
        ("request_format_invalid_content_type", "deletion", PermanentError,
         "request_format_invalid"),
        ("request_format_invalid_no_body", "deletion", PermanentError, "request_format_invalid"),
        ("missing_jurisdiction", "deletion", PermanentError, "user_objects_invalid"),
        ("missing_identifier", "deletion", PermanentError, "user_objects_invalid"),
        ("id5id_cannot_be_decrypted", "deletion", PermanentError, "user_objects_invalid"),
        ("id5id_not_valid", "deletion", PermanentError, "user_objects_invalid"),
        ("maid_not_valid", "deletion", PermanentError, "user_objects_invalid"),
        ("rate_limit_email", "deletion", RateLimited, "api_rate_limit_error"),
        ("rate_limit_id5id", "deletion", RateLimited, "api_rate_limit_error"),
        ("rate_limit_maid", "deletion", RateLimited, "api_rate_limit_error"),
        ("rate_limit_partner_uid", "deletion", RateLimited, "api_rate_limit_error"),
        ("rate_limit_partner", "deletion", RateLimited, "api_rate_limit_error"),
        ("api_token_invalid", "status", AuthError, "api_token_invalid"),
        ("partiner_id_invalid", "status", AuthError, "partiner_id_invalid"),
        ("api_token_not_authorized", "status", AuthError, "api_token_not_authorized"),
        ("job_id_not_uuid", "status", PermanentError, "user_object_invalid"),
        ("job_not_found", "status", PermanentError, "not_found"),
        ("internal_error", "status", TransientError, "internal_id5_error"),
    ],
)
@responses.activate
def test_every_row_of_the_id5_error_table(client: ID5Client, row: str, operation: str,
                                          error_class: type[ConnectorError], code: str) -> None:
    status, body = error_row(row)
    if operation == "deletion":
        responses.post(DELETION, status=status, json=body)
        call = lambda: client.request_deletion(DeletionRequest("GDPR", email="a@example.com"))  # noqa: E731
    else:
        responses.get(f"{REQUESTS}/{JOB_ID}", status=status, json=body)
        call = lambda: client.get_status(JOB_ID)  # noqa: E731
    with pytest.raises(error_class) as caught:
        call()
    error = caught.value
    assert type(error) is error_class
    assert (error.status, error.code) == (status, code)
    assert error.message.startswith("ID5: ")
    assert TOKEN not in everything_printed(error)
    assert error.maybe_sent is False  # ID5 answered: whatever it said, nothing was applied


@pytest.mark.parametrize(("status", "maybe_sent"), [(500, False), (503, False), (504, True)])
@responses.activate
def test_deletion_5xx_is_refused_not_applied_except_a_gateway_timeout(
        client: ID5Client, status: int, maybe_sent: bool) -> None:
    responses.post(DELETION, status=status, json={"error": {
        "code": "internal_id5_error", "type": "api_error", "message": "Internal error id: 1"}})
    with pytest.raises(TransientError) as caught:
        client.request_deletion(DeletionRequest("GDPR", partner_uid="crm-1"))
    # ID5 answered: the request was not applied and is retried, never handed to reconciliation;
    # a gateway's 504 means the backend may still apply it.
    assert (caught.value.retryable, caught.value.maybe_sent) == (True, maybe_sent)
    assert len(responses.calls) == 1


@responses.activate
def test_unauthorised_token_echo_is_redacted_everywhere(
        client: ID5Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    status, body = error_row("api_token_not_authorized")
    responses.post(DELETION, status=status, json=body)
    with pytest.raises(AuthError) as caught:
        client.request_deletion(DeletionRequest("GDPR", email="a@example.com"))
    assert "Api token [REDACTED] does not have access" in caught.value.message
    assert "ID5_TOKEN" in caught.value.message
    assert TOKEN not in everything_printed(caught.value)
    assert TOKEN not in caplog.text


@responses.activate
def test_echoed_identifiers_are_kept_out_of_error_messages(client: ID5Client) -> None:
    status, body = error_row("maid_not_valid")
    responses.post(DELETION, status=status, json=body)
    with pytest.raises(PermanentError) as caught:
        client.request_deletion(DeletionRequest("GDPR", maid=MAID))
    assert MAID not in caught.value.message
    assert "Provided maid […] is not a valid one" in caught.value.message


@pytest.mark.parametrize(
    ("row", "scope"),
    [("rate_limit_email", "email"), ("rate_limit_id5id", "id5id"), ("rate_limit_maid", "maid"),
     ("rate_limit_partner_uid", "partnerUid"), ("rate_limit_partner", "partner")],
)
@responses.activate
def test_rate_limits_say_what_is_limited_and_retry_after_utc_midnight(
        client: ID5Client, row: str, scope: str) -> None:
    status, body = error_row(row)
    responses.post(DELETION, status=status, json=body)
    with pytest.raises(RateLimited) as caught:
        client.request_deletion(DeletionRequest("GDPR", email="a@example.com"))
    error = caught.value
    assert error.scope == scope and error.retryable and not error.maybe_sent
    retry_at = error.retry_at()
    assert retry_at is not None and retry_at.tzinfo is not None
    assert (retry_at.hour, retry_at.minute, retry_at.second) == (0, 0, 0)
    assert timedelta(0) < retry_at - datetime.now(UTC) <= timedelta(days=1)
    assert len(responses.calls) == 1


@responses.activate
def test_connection_error_with_token_url_is_redacted_and_unchained(
        client: ID5Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    responses.post(DELETION, body=requests.ConnectionError(
        f"HTTPSConnectionPool(host='api.id5-sync.com', port=443): Max retries exceeded with url: "
        f"/partners/v1/173/privacy/requests/deletion?token={TOKEN} (Caused by ProtocolError)"))
    with pytest.raises(TransientError) as caught:
        client.request_deletion(DeletionRequest("GDPR", email="a@example.com"))
    assert caught.value.maybe_sent  # it may have reached ID5: reconcile, don't resend blindly
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert TOKEN not in everything_printed(caught.value)
    assert TOKEN not in caplog.text


@responses.activate
def test_success_without_id_is_malformed_and_maybe_sent(client: ID5Client) -> None:
    responses.post(DELETION, json={"status": "ok"})
    with pytest.raises(TransientError) as caught:
        client.request_deletion(DeletionRequest("GDPR", email="a@example.com"))
    assert caught.value.maybe_sent and caught.value.code == "malformed_response"
