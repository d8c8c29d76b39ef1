"""The small common base every vendor connector stands on.

One HTTP session factory (timeouts, safe retries), one `Transport.request()` that every vendor
call goes through, typed errors a compliance officer can act on, and secret redaction for every
message and log line that leaves the connectors. Vendors override only `raise_for_response()`,
i.e. how to read their error bodies.

Connectors take plain values, return dataclasses and never touch the database or Django settings.
"""

from __future__ import annotations

import email.utils
import http.cookiejar
import logging
import os
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, cast
from urllib.parse import quote, quote_plus, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.sessions import merge_setting
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.util.retry import Retry

# (connect, read) seconds. Adobe's gateway drops requests after 60 s (docs/vendors.md),
# so a 30 s read timeout fails before it and leaves room for one retry of a GET.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
DEFAULT_RETRIES = 3
# The longest Retry-After we wait out inside a call. Anything longer surfaces as RateLimited so
# the worker reschedules instead of holding a thread (a connector never sleeps).
RETRY_AFTER_CAP = 10.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A 5xx is the vendor refusing the request (nothing applied), except a gateway's 504: the gateway
# gave up waiting on a backend that may still apply it, as ambiguous as our own read timeout.
AMBIGUOUS_STATUSES = frozenset({504})
USER_AGENT = "PrivacyDesk-connectors/0.1"
REDACTED = "[REDACTED]"
MAX_DETAIL = 300


# --------------------------------------------------------------------------- redaction

_NOT_DONE = r"(?!\[REDACTED\])"
_SENSITIVE_KEY = r"[\w.-]*(?:token|secret|password|passwd|signature|credential|sig|api_key|apikey)"
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Query strings and form bodies: ?token=..., &client_secret=..., access_token=...
    # (ID5 takes its permanent token in the query string: docs/vendors.md, ID5).
    (re.compile(rf"(?i)\b({_SENSITIVE_KEY})={_NOT_DONE}[^&\s'\"#<>)\]]+"), rf"\1={REDACTED}"),
    # JSON bodies and dict reprs: "access_token": "...", 'client_secret': '...'
    (
        re.compile(rf"""(?i)(["']{_SENSITIVE_KEY}["']\s*:\s*["']){_NOT_DONE}[^"']*(["'])"""),
        rf"\1{REDACTED}\2",
    ),
    (re.compile(rf"(?i)\b(bearer|basic)\s+{_NOT_DONE}[A-Za-z0-9\-._~+/]+=*"), rf"\1 {REDACTED}"),
    (
        re.compile(rf"""(?i)(authorization["']?\s*[:=]\s*["']?)(?!bearer\s|basic\s){_NOT_DONE}[^"'\s,}}]+"""),
        rf"\1{REDACTED}",
    ),
    # ID5's 403 body echoes the token: "Api token {TOKEN} does not have access to this resource".
    (re.compile(rf"(?i)(api token\s+){_NOT_DONE}\S+"), rf"\1{REDACTED}"),
)


def redact(text: object, secrets: Iterable[str | None] = ()) -> str:
    """`text` as a string with secrets replaced by [REDACTED]; safe to apply twice.

    Known secret values (`secrets`) are replaced literally, also URL-encoded; then patterns catch
    tokens we were not told about (query parameters, JSON fields, Authorization/Bearer values).
    """
    result = str(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                result = result.replace(form, REDACTED)
    for pattern, replacement in _REDACTIONS:
        result = pattern.sub(replacement, result)
    return result


class RedactingFilter(logging.Filter):
    """Logging filter that redacts a record's final message; put it on handlers too."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def _install_library_log_redaction() -> None:
    # urllib3 logs every request line at DEBUG, query string included ("POST /...?token=..."),
    # and Retry logs the URL too. Filters on a logger are not inherited, so name each one.
    for name in ("urllib3.connectionpool", "urllib3.util.retry"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


_install_library_log_redaction()


# --------------------------------------------------------------------------- errors


class ConnectorError(Exception):
    """A vendor call failed. `message` is redacted and meant for a compliance officer.

    retryable: trying again later may work. retry_after: seconds, or an aware datetime.
    status: the vendor's HTTP status, if one came back. code: the vendor's error code.
    maybe_sent: the vendor may have received and acted on the request (read timeout, connection
    dropped after sending, a gateway's 504, unreadable success body): reconcile before resending
    a deletion. A 5xx or 429 the vendor itself answered says the request was not applied.
    """

    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after: float | datetime | None = None,
        status: int | None = None,
        code: str | None = None,
        maybe_sent: bool = False,
    ) -> None:
        self.message = redact(message)
        super().__init__(self.message)
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.status = status
        self.code = code
        self.maybe_sent = maybe_sent

    def retry_at(self, now: datetime | None = None) -> datetime | None:
        """When to try again, as an aware UTC datetime (None when no hint was given)."""
        if self.retry_after is None:
            return None
        if isinstance(self.retry_after, datetime):
            return self.retry_after
        return (now or utc_now()) + timedelta(seconds=self.retry_after)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status!r}, code={self.code!r}, "
            f"retryable={self.retryable!r}, retry_after={self.retry_after!r}, "
            f"maybe_sent={self.maybe_sent!r})"
        )


class RateLimited(ConnectorError):
    """The vendor refused for now; try again at `retry_at()`. `scope` says what is limited."""

    default_retryable = True

    def __init__(self, message: str, *, scope: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.scope = scope


class AuthError(ConnectorError):
    """Credentials, token, partner id or other configuration is wrong: an officer must fix it."""


class PermanentError(ConnectorError):
    """The vendor will not accept this request as it stands: correct it, do not resend it."""


class InvalidInput(PermanentError):
    """Refused before sending: the values given cannot make a valid vendor request."""


class TransientError(ConnectorError):
    """5xx, timeout, dropped connection or unreadable body: retry later. Check `maybe_sent`: only
    a send whose outcome is unknown is reconciled; a vendor's own 5xx answer was not applied."""

    default_retryable = True


# --------------------------------------------------------------------------- time helpers


def utc_now() -> datetime:
    return datetime.now(UTC)


def next_utc_midnight(now: datetime | None = None) -> datetime:
    now = (now or utc_now()).astimezone(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - utc_now()).total_seconds())


# --------------------------------------------------------------------------- session


class CappedRetry(Retry):
    """urllib3 Retry that will not wait out a Retry-After longer than RETRY_AFTER_CAP.

    Raising MaxRetryError with raise_on_status=False makes urllib3 (and `responses`) hand back
    the 429/503 response itself, which `Transport` turns into RateLimited with retry_after.
    """

    def increment(self, method: str | None = None, url: str | None = None,
                  response: Any = None, error: Exception | None = None, _pool: Any = None,
                  _stacktrace: Any = None) -> Retry:
        if response is not None:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is not None and wait > RETRY_AFTER_CAP:
                raise MaxRetryError(_pool, url, ResponseError("Retry-After beyond cap"))
        return super().increment(method, url, response, error, _pool, _stacktrace)


def make_retry(*, retry_post: bool = False, retries: int = DEFAULT_RETRIES,
               backoff_factor: float = 0.5) -> Retry:
    """Retries only where safe: connection failures before sending (any method); read errors and
    5xx/429 for GETs (and POST when `retry_post`, meant for the idempotent IMS token call)."""
    methods = frozenset({"GET", "HEAD", "POST"} if retry_post else {"GET", "HEAD"})
    return CappedRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=methods,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=RETRY_AFTER_CAP,
        respect_retry_after_header=True,
        retry_after_max=int(RETRY_AFTER_CAP),
        raise_on_status=False,
        raise_on_redirect=False,
    )


class VendorSession(requests.Session):
    """A requests.Session trimmed to what vendor calls use.

    A plain Session scans the whole of `os.environ` twice on every call (proxies, no_proxy),
    opens ~/.netrc and merges cookie jars: on loopback that was a quarter of a sync pass's time.
    Here the proxies that `HTTP(S)_PROXY`/`NO_PROXY` give a host are looked up on its first call
    and kept for the session; ~/.netrc is never read (every vendor call carries its own
    credentials); and no cookie is kept or sent (vendor APIs are stateless, token-authenticated).
    `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE` are honoured as requests does. `environment_proxies =
    False` ignores proxies from the environment altogether (the result downloader's pinning).
    Everything else (adapters, retries, timeouts, streaming, hooks) is requests' own.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False  # no ~/.netrc; the environment is read below, once per host
        self.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.environment_proxies = True
        self._proxies_by_host: dict[tuple[str, str, str | None], dict[str, str]] = {}

    def request(self, method: str | bytes, url: str | bytes, params: Any = None,
                data: Any = None, headers: Any = None, cookies: Any = None, files: Any = None,
                auth: Any = None, timeout: Any = None, allow_redirects: bool = True,
                proxies: Any = None, hooks: Any = None, stream: bool | None = None,
                verify: Any = None, cert: Any = None, json: Any = None) -> requests.Response:
        """`Session.request`, preparing the call directly (no cookie jars to merge)."""
        if cookies or files or auth or hooks or self.auth:
            return super().request(
                method, url, params=params, data=data, headers=headers, cookies=cookies,
                files=files, auth=auth, timeout=timeout, allow_redirects=allow_redirects,
                proxies=proxies, hooks=hooks, stream=stream, verify=verify, cert=cert, json=json)
        merged = CaseInsensitiveDict(self.headers)
        merged.update(headers or {})
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=str(method).upper(), url=url, data=data or {}, json=json,
            headers={name: value for name, value in merged.items() if value is not None},
            params=merge_setting(params, self.params) if self.params else params,
            hooks=self.hooks,
        )
        settings = self.merge_environment_settings(
            cast(str, prepared.url), proxies or {}, stream, verify, cert)
        return self.send(prepared, timeout=timeout, allow_redirects=allow_redirects, **settings)

    def merge_environment_settings(self, url: str, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        """requests' merge of call, environment and session settings, without its generic
        (and, per call, costly) merging helpers."""
        proxies = {**self.proxies, **(proxies or {})}
        if self.environment_proxies:
            for name, value in self._host_proxies(url, proxies.get("no_proxy")).items():
                proxies.setdefault(name, value)
        if verify is True or verify is None:
            verify = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                      or verify)
        return {
            "proxies": {name: value for name, value in proxies.items() if value is not None},
            "stream": self.stream if stream is None else stream,
            "verify": self.verify if verify is None else verify,
            "cert": self.cert if cert is None else cert,
        }

    def _host_proxies(self, url: str, no_proxy: str | None) -> dict[str, str]:
        scheme, netloc = urlsplit(url)[:2]
        key = (scheme, netloc, no_proxy)
        if key not in self._proxies_by_host:
            self._proxies_by_host[key] = get_environ_proxies(url, no_proxy=no_proxy)
        return self._proxies_by_host[key]


def make_session(*, retry_post: bool = False, retries: int = DEFAULT_RETRIES,
                 backoff_factor: float = 0.5,
                 adapter: Callable[..., HTTPAdapter] = HTTPAdapter) -> VendorSession:
    """A VendorSession with the safe retry policy mounted for http and https.

    `adapter` builds the transport adapter from `max_retries=` (e.g. the download's pinning one).
    """
    session = VendorSession()
    mounted = adapter(max_retries=make_retry(
        retry_post=retry_post, retries=retries, backoff_factor=backoff_factor))
    session.mount("https://", mounted)
    session.mount("http://", mounted)
    session.headers["User-Agent"] = USER_AGENT
    return session


# --------------------------------------------------------------------------- transport


@dataclass(frozen=True)
class Attempt:
    """One vendor call, for the caller's audit hook. Holds no URL, body or identity value."""

    vendor: str
    operation: str
    http_status: int | None
    duration_ms: int
    error_class: str | None


AttemptHook = Callable[[Attempt], None]


def _certainly_not_sent(exc: requests.RequestException) -> bool:
    """True only when the connection failed before any byte of the request went out."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    # NewConnectionError and NameResolutionError subclass ConnectTimeoutError.
    return isinstance(reason, ConnectTimeoutError)


def safe_json(response: requests.Response) -> Any:
    """The response body as JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


class Transport:
    """Base for a vendor connector: one `request()` with timeouts, typed errors and redaction."""

    vendor: ClassVar[str] = "vendor"  # logger name suffix and Attempt.vendor
    label: ClassVar[str] = "The vendor"  # how messages name the vendor

    def __init__(self, *, session: requests.Session | None = None,
                 on_attempt: AttemptHook | None = None,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self.session = session or make_session()
        self.on_attempt = on_attempt
        self.timeout = timeout
        self.log = logging.getLogger(f"connectors.{self.vendor}")

    def secrets(self) -> tuple[str, ...]:
        """Secret values this connector holds, redacted literally from its messages."""
        return ()

    def request(self, method: str, url: str, *, operation: str, ok: Collection[int] = (200,),
                params: Mapping[str, str] | None = None,
                headers: Mapping[str, str] | None = None, json: Any = None, data: Any = None,
                stream: bool = False) -> requests.Response:
        """Send one vendor call; return the response if its status is in `ok`, else raise.

        Errors are raised outside any `except` block so the requests exception (whose text and
        attributes carry the URL, e.g. ID5's ?token=) is never chained to them.
        """
        started = time.monotonic()
        response: requests.Response | None = None
        error: ConnectorError | None = None
        try:
            response = self.session.request(
                method, url, params=params, headers=headers, json=json, data=data,
                timeout=self.timeout, stream=stream, allow_redirects=False)
        except requests.RequestException as exc:
            error = self.transport_error(exc, operation)
        if response is not None and response.status_code not in ok:
            error = self._response_error(response, operation)
        self._record(operation, response, error, started)
        if error is not None:
            raise error
        return cast(requests.Response, response)

    def request_json(self, method: str, url: str, *, operation: str, **kwargs: Any) -> Any:
        response = self.request(method, url, operation=operation, **kwargs)
        body = safe_json(response)
        if body is None:
            raise self.malformed(operation, "the body is not JSON")
        return body

    def raise_for_response(self, response: requests.Response, operation: str) -> None:
        """Vendor hook: read the error body and raise a ConnectorError. Default: by status."""
        raise self.http_error(response, operation=operation)

    def http_error(self, response: requests.Response, *, operation: str,
                   detail: str | None = None, code: str | None = None,
                   hint: str | None = None) -> ConnectorError:
        """Map an HTTP error status to the right ConnectorError with an actionable message."""
        status = response.status_code
        detail = _short(detail or response.reason or "no details given")
        if status >= 500 or status == 408:
            text = f"{self.label} failed while handling the request ({operation}): {detail}"
            cls: type[ConnectorError] = TransientError
            hint = hint or "a temporary problem at the vendor; it will be retried"
        else:
            text = f"{self.label} rejected the request ({operation}): {detail}"
            cls = {401: AuthError, 403: AuthError, 429: RateLimited}.get(status, PermanentError)
            hint = hint or _DEFAULT_HINTS.get(status, _DEFAULT_HINTS[400])
        message = redact(f"{text} (HTTP {status}) — {hint}", self.secrets())
        return cls(message, status=status, code=code or ("not_found" if status == 404 else None),
                   retry_after=parse_retry_after(response.headers.get("Retry-After")),
                   maybe_sent=status in AMBIGUOUS_STATUSES)

    def transport_error(self, exc: requests.RequestException, operation: str) -> ConnectorError:
        """Turn a requests exception into a redacted ConnectorError (never chained to it)."""
        detail = _short(redact(exc, self.secrets()))
        if isinstance(exc, requests.exceptions.MissingSchema | requests.exceptions.InvalidSchema
                      | requests.exceptions.InvalidURL):
            return PermanentError(f"{self.label}: the configured URL is not valid ({detail}) — "
                                  "check the base URL setting", code="bad_url")
        if _certainly_not_sent(exc):
            return TransientError(f"Could not connect to {self.label} ({operation}): {detail} — "
                                  "nothing was sent; it will be retried", code="connect_failed")
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, MaxRetryError):  # retries ran out: the last failure is inside
            reason = reason.reason
        if isinstance(exc, requests.Timeout) or isinstance(reason, ReadTimeoutError):
            return TransientError(
                f"{self.label} did not answer within {self.timeout[1]:g} s ({operation}) — it may "
                "have received the request; reconcile before resending",
                code="timeout", maybe_sent=True)
        return TransientError(
            f"The connection to {self.label} failed after sending ({operation}): {detail} — it "
            "may have received the request; reconcile before resending",
            code="connection_dropped", maybe_sent=True)

    def malformed(self, operation: str, what: str) -> TransientError:
        """The vendor answered success but we cannot read it: it probably acted on the call."""
        return TransientError(
            f"{self.label} answered {operation} with an unreadable response ({what}) — the "
            "request was probably processed; reconcile before resending",
            code="malformed_response", maybe_sent=True)

    def _response_error(self, response: requests.Response, operation: str) -> ConnectorError:
        try:
            self.raise_for_response(response, operation)
        except ConnectorError as exc:
            return exc
        return self.http_error(response, operation=operation)

    def _record(self, operation: str, response: requests.Response | None,
                error: ConnectorError | None, started: float) -> None:
        status = response.status_code if response is not None else None
        duration_ms = int((time.monotonic() - started) * 1000)
        if error is None:
            self.log.info("%s: HTTP %s in %d ms", operation, status, duration_ms)
        else:
            self.log.warning("%s failed in %d ms: %s", operation, duration_ms, error.message)
        if self.on_attempt is None:
            return
        attempt = Attempt(self.vendor, operation, status, duration_ms,
                          type(error).__name__ if error else None)
        try:
            self.on_attempt(attempt)
        except Exception as exc:  # an audit hook must not turn a done vendor call into a failure
            self.log.error("on_attempt hook failed for %s: %s", operation,
                           redact(repr(exc), self.secrets()))


_DEFAULT_HINTS = {
    400: "the request was invalid; correct it before sending again",
    401: "check the vendor credentials in the settings",
    403: "the credentials are not allowed to do this; check the vendor account's permissions",
    404: "the vendor has no such record",
    429: "too many requests; wait before sending more",
}
