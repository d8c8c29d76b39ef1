"""The common transport: retries only where safe, typed errors, redaction, attempt hook."""

from __future__ import annotations

import http.client
import logging
import pickle
import socket
import traceback
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from connectors.base import (
    RETRY_AFTER_CAP,
    Attempt,
    AuthError,
    CappedRetry,
    ConnectorError,
    PermanentError,
    RateLimited,
    RedactingFilter,
    TransientError,
    Transport,
    make_retry,
    make_session,
    next_utc_midnight,
    parse_retry_after,
    redact,
)

SECRET = "s3cr3t-T0ken/with+chars"
URL = "https://vendor.example/api/items"


class Vendor(Transport):
    vendor = "testvendor"
    label = "Test Vendor"

    def secrets(self) -> tuple[str, ...]:
        return (SECRET,)


def make_vendor(**kwargs) -> Vendor:
    return Vendor(session=make_session(backoff_factor=0), **kwargs)


def everything_printed(exc: BaseException) -> str:
    return " ".join([str(exc), repr(exc), "".join(traceback.format_exception(exc))])


# --------------------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("POST /partners/v1/173/privacy/requests/deletion?token=abc123XYZ HTTP/1.1", "abc123XYZ"),
        ("url: /x?a=1&token=abc123XYZ&b=2", "abc123XYZ"),
        ("{'Authorization': 'Bearer eyJhbGciOi.payload.sig'}", "eyJhbGciOi"),
        ('{"access_token": "eyJhbGciOi.payload.sig", "expires_in": 86399}', "eyJhbGciOi"),
        ("grant_type=client_credentials&client_id=abc&client_secret=hunter22&scope=x", "hunter22"),
        ("{'client_secret': 'hunter22'}", "hunter22"),
        ("Api token abc123XYZ does not have access to this resource", "abc123XYZ"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("/adobe/download/job.zip?sig=4f2a9c", "4f2a9c"),
    ],
)
def test_redact_removes_secrets_by_pattern(text: str, leak: str) -> None:
    assert leak not in redact(text)
    assert "[REDACTED]" in redact(text)


def test_redact_removes_known_secret_values_also_url_encoded() -> None:
    text = f"raw {SECRET} quoted s3cr3t-T0ken%2Fwith%2Bchars plus s3cr3t-T0ken%2Fwith%2Bchars"
    assert "s3cr3t" not in redact(text, [SECRET])


def test_redact_is_idempotent_and_keeps_harmless_text() -> None:
    text = 'GET /x?token=abc&page=2 {"token_type": "bearer", "expires_in": 5}'
    once = redact(text)
    assert redact(once) == once
    assert "page=2" in once and '"token_type": "bearer"' in once


def test_urllib3_request_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    # Even if an operator turns urllib3 up to DEBUG, its URL lines lose the token.
    caplog.set_level(logging.DEBUG, logger="urllib3")
    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s',
        "https",
        "api.id5-sync.com",
        443,
        "POST",
        "/partners/v1/173/privacy/requests/deletion?token=abc123XYZ",
        "HTTP/1.1",
        200,
    )
    assert "api.id5-sync.com" in caplog.text
    assert "abc123XYZ" not in caplog.text


def test_redacting_filter_can_be_put_on_any_handler() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "calling %s", ("/a?token=zz9",), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "calling /a?token=[REDACTED]"


# --------------------------------------------------------------------------- request


@responses.activate
def test_request_sends_with_connect_and_read_timeouts() -> None:
    responses.get(URL, json={"ok": True})
    assert make_vendor().request_json("GET", URL, operation="list") == {"ok": True}
    assert responses.calls[0].request.req_kwargs["timeout"] == (5.0, 30.0)


@responses.activate
def test_on_attempt_gets_vendor_operation_status_and_no_url() -> None:
    attempts: list[Attempt] = []
    responses.get(URL, status=400, json={})
    with pytest.raises(PermanentError):
        make_vendor(on_attempt=attempts.append).request("GET", URL, operation="list")
    [attempt] = attempts
    assert (attempt.vendor, attempt.operation, attempt.http_status, attempt.error_class) == (
        "testvendor",
        "list",
        400,
        "PermanentError",
    )
    assert attempt.duration_ms >= 0
    assert "vendor.example" not in repr(attempt)


@responses.activate
def test_a_failing_attempt_hook_does_not_fail_the_vendor_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(attempt: Attempt) -> None:
        raise RuntimeError("audit down")

    responses.get(URL, json={"ok": True})
    assert make_vendor(on_attempt=broken).request_json("GET", URL, operation="list")
    assert "on_attempt hook failed" in caplog.text


@pytest.mark.parametrize(
    ("status", "error_class", "code"),
    [
        (400, PermanentError, None),
        (401, AuthError, None),
        (403, AuthError, None),
        (404, PermanentError, "not_found"),
        (422, PermanentError, None),
        (429, RateLimited, None),
        (500, TransientError, None),
        (502, TransientError, None),
        (503, TransientError, None),
        (504, TransientError, None),
    ],
)
@responses.activate
def test_http_errors_map_to_typed_errors_on_post(status: int, error_class: type, code) -> None:
    responses.post(URL, status=status, json={})
    with pytest.raises(error_class) as caught:
        make_vendor().request("POST", URL, operation="create", json={})
    assert caught.value.status == status
    assert caught.value.code == code
    assert f"(HTTP {status})" in caught.value.message
    # The vendor answered: refused, not applied. Only a gateway's 504 leaves the outcome unknown.
    assert caught.value.maybe_sent is (status == 504)
    assert len(responses.calls) == 1  # a POST is never resent on an HTTP error


@responses.activate
def test_get_is_retried_on_503_and_succeeds() -> None:
    responses.get(URL, status=503)
    responses.get(URL, json={"ok": True})
    assert make_vendor().request_json("GET", URL, operation="list") == {"ok": True}
    assert len(responses.calls) == 2


@responses.activate
def test_short_retry_after_on_get_is_honoured_within_the_call() -> None:
    responses.get(URL, status=429, headers={"Retry-After": "1"})
    responses.get(URL, json={"ok": True})
    assert make_vendor().request_json("GET", URL, operation="list") == {"ok": True}


@responses.activate
def test_long_retry_after_surfaces_as_rate_limited_instead_of_sleeping() -> None:
    responses.get(URL, status=429, headers={"Retry-After": "600"})
    with pytest.raises(RateLimited) as caught:
        make_vendor().request("GET", URL, operation="list")
    assert caught.value.retry_after == 600
    assert caught.value.retryable
    assert len(responses.calls) == 1


@responses.activate
def test_429_on_post_is_not_retried_and_carries_retry_after() -> None:
    responses.post(URL, status=429, headers={"Retry-After": "120"})
    with pytest.raises(RateLimited) as caught:
        make_vendor().request("POST", URL, operation="create")
    assert caught.value.retry_after == 120
    assert len(responses.calls) == 1


@responses.activate
def test_malformed_success_body_is_transient_and_maybe_sent() -> None:
    responses.post(URL, body="<html>oops</html>", status=200)
    with pytest.raises(TransientError) as caught:
        make_vendor().request_json("POST", URL, operation="create")
    assert caught.value.maybe_sent and caught.value.code == "malformed_response"


@responses.activate
def test_unexpected_redirect_is_not_followed() -> None:
    responses.get(URL, status=302, headers={"Location": "https://elsewhere.example/"})
    with pytest.raises(PermanentError):
        make_vendor().request("GET", URL, operation="list")
    assert len(responses.calls) == 1


# --------------------------------------------------------------------------- transport failures


def _connect_refused() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    return requests.ConnectionError(MaxRetryError(None, f"/x?token={SECRET}", reason))


def _dropped_after_send() -> requests.ConnectionError:
    cause = http.client.RemoteDisconnected("Remote end closed connection without response")
    return requests.ConnectionError(ProtocolError("Connection aborted.", cause))


@pytest.mark.parametrize(
    ("exc", "maybe_sent", "code"),
    [
        (_connect_refused(), False, "connect_failed"),
        (requests.ConnectTimeout(f"timed out {URL}?token={SECRET}"), False, "connect_failed"),
        (requests.ReadTimeout(f"read timed out {URL}?token={SECRET}"), True, "timeout"),
        (_dropped_after_send(), True, "connection_dropped"),
    ],
)
@responses.activate
def test_transport_failures_say_whether_the_request_may_have_been_sent(
    exc: Exception, maybe_sent: bool, code: str
) -> None:
    responses.post(URL, body=exc)
    with pytest.raises(TransientError) as caught:
        make_vendor().request("POST", URL, operation="create")
    assert caught.value.maybe_sent is maybe_sent
    assert caught.value.code == code
    assert caught.value.retryable


@responses.activate
def test_transport_errors_never_chain_or_print_the_url_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    responses.post(URL, body=_connect_refused())
    with pytest.raises(TransientError) as caught:
        make_vendor().request("POST", URL, operation="create")
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert SECRET not in everything_printed(caught.value)
    assert SECRET not in caplog.text


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_real_connection_refused_is_certainly_not_sent_and_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    url = f"http://127.0.0.1:{_closed_port()}/partners/v1/173/privacy/requests/deletion"
    with pytest.raises(TransientError) as caught:
        make_vendor().request("POST", url, operation="create", params={"token": SECRET})
    assert caught.value.maybe_sent is False
    assert "token=[REDACTED]" in caught.value.message
    assert SECRET not in everything_printed(caught.value)
    assert SECRET not in caplog.text and "s3cr3t" not in caplog.text


def test_invalid_base_url_is_a_permanent_configuration_error() -> None:
    with pytest.raises(PermanentError) as caught:
        make_vendor().request("GET", "not-a-url", operation="list")
    assert caught.value.code == "bad_url"


# --------------------------------------------------------------------------- retry policy


def test_retry_policy_retries_status_and_reads_only_for_gets() -> None:
    retry = make_retry()
    assert retry.is_retry("GET", 503)
    assert not retry.is_retry("POST", 503)
    assert not retry._is_method_retryable("POST")  # read errors on POST are not retried
    assert retry.connect == 3  # connection failures before sending: any method


def test_retry_policy_for_the_idempotent_token_post() -> None:
    assert make_retry(retry_post=True).is_retry("POST", 503)


def test_capped_retry_refuses_to_wait_beyond_the_cap() -> None:
    class FakeResponse:
        status = 429
        headers = {"Retry-After": str(int(RETRY_AFTER_CAP) + 1)}

        def get_redirect_location(self) -> bool:
            return False

    with pytest.raises(MaxRetryError):
        make_retry().increment("GET", "/x", response=FakeResponse())
    assert isinstance(make_retry(), CappedRetry)


# --------------------------------------------------------------------------- errors and time


def test_retry_at_from_seconds_and_from_datetime() -> None:
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert RateLimited("x", retry_after=90).retry_at(now) == now + timedelta(seconds=90)
    tomorrow = next_utc_midnight(now)
    assert tomorrow == datetime(2026, 11, 21, tzinfo=UTC)
    assert RateLimited("x", retry_after=tomorrow).retry_at(now) == tomorrow
    assert ConnectorError("x").retry_at(now) is None


def test_error_messages_are_redacted_on_construction() -> None:
    exc = AuthError("Api token abc123XYZ does not have access")
    assert "abc123XYZ" not in everything_printed(exc)


def test_errors_survive_pickling_for_task_queues() -> None:
    exc = RateLimited("slow down", retry_after=5.0, status=429, code="x", scope="partner")
    copy = pickle.loads(pickle.dumps(exc))  # noqa: S301 (our own object)
    assert (copy.message, copy.retry_after, copy.status, copy.scope) == (
        "slow down",
        5.0,
        429,
        "partner",
    )


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("120") == 120
    future = datetime.now(UTC) + timedelta(minutes=2)
    seconds = parse_retry_after(future.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert seconds is not None and 100 < seconds <= 120
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
