"""Adobe IMS access tokens (OAuth server-to-server) and the base for Adobe Platform APIs.

docs/vendors.md, Adobe IMS: client-credentials form POST; the token lives ~24 h and there is no
refresh token, so we fetch a new one shortly before expiry and once more on a 401.
JWT credentials stopped working on 2025-01-01 and are deliberately not supported.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from connectors.base import (
    AttemptHook,
    AuthError,
    Transport,
    make_session,
    safe_json,
)

IMS_TOKEN_URL = "https://ims-na1.adobelogin.com/ims/token/v3"  # noqa: S105 (a URL)
# Refetch this long before Adobe says the token expires, so a call never starts with a token
# that dies in flight.
EXPIRY_MARGIN = 300
# How long a token stays in the provider's own memory before the shared cache is asked again:
# a sync pass makes hundreds of calls, and a cache read each (a file or Redis round trip) was a
# tenth of their time. Well inside EXPIRY_MARGIN, so a held token is always still valid; a 401
# drops it at once.
MEMORY_SECONDS = 60.0
# OAuth error codes that mean the credential itself is wrong (RFC 6749 §5.2).
CREDENTIAL_ERRORS = frozenset({"invalid_client", "unauthorized_client", "invalid_scope"})


# Field → environment variable (README, "Configuration"), for messages.
_SETTING_NAMES = {"client_id": "ADOBE_CLIENT_ID", "client_secret": "ADOBE_CLIENT_SECRET",
                  "org_id": "ADOBE_ORG_ID", "token_url": "ADOBE_IMS_TOKEN_URL"}


@dataclass(frozen=True, kw_only=True)
class AdobeCredentials:
    """One OAuth server-to-server credential from the Adobe Developer Console."""

    client_id: str
    client_secret: str = field(repr=False)
    org_id: str  # "...@AdobeOrg"
    scopes: tuple[str, ...] = ()
    token_url: str = IMS_TOKEN_URL

    def __post_init__(self) -> None:
        if isinstance(self.scopes, str):  # ADOBE_SCOPES arrives comma-separated
            object.__setattr__(self, "scopes", split_scopes(self.scopes))
        missing = [env for name, env in _SETTING_NAMES.items() if not getattr(self, name)]
        if missing:
            raise AuthError(f"Adobe is not configured: set {', '.join(missing)}",
                            code="not_configured")

    @property
    def scope(self) -> str:
        return ",".join(self.scopes)


def split_scopes(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


class TokenCache(Protocol):
    """What we need from a cache; Django's `django.core.cache.cache` fits."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any, timeout: float | None) -> Any: ...

    def delete(self, key: str) -> Any: ...


class MemoryCache:
    """A process-local TokenCache for scripts and tests. Use Django's cache to share the token
    between worker processes."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[Any, float]] = {}

    def get(self, key: str) -> Any:
        value, expires = self._items.get(key, (None, 0.0))
        return value if time.monotonic() < expires else None

    def set(self, key: str, value: Any, timeout: float | None) -> None:
        self._items[key] = (value, time.monotonic() + (timeout or float("inf")))

    def delete(self, key: str) -> None:
        self._items.pop(key, None)


@dataclass(frozen=True)
class AccessToken:
    access_token: str = field(repr=False)
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 (OAuth token type, not a secret)

    def cache_seconds(self, margin: int = EXPIRY_MARGIN) -> int:
        """How long the token may be reused: until `margin` before expiry (half its life if
        it is short-lived)."""
        if self.expires_in > 2 * margin:
            return self.expires_in - margin
        return max(1, self.expires_in // 2)


class AdobeTokenProvider(Transport):
    """Fetches and caches the IMS token. The cache key holds no secret."""

    vendor = "adobe_ims"
    label = "Adobe IMS"

    def __init__(self, credentials: AdobeCredentials, cache: TokenCache, *,
                 session: requests.Session | None = None,
                 on_attempt: AttemptHook | None = None, margin: int = EXPIRY_MARGIN) -> None:
        # The token POST is idempotent, so unlike other POSTs it may be retried on read errors.
        super().__init__(session=session or make_session(retry_post=True), on_attempt=on_attempt)
        self.credentials = credentials
        self.cache = cache
        self.margin = margin
        self.clock: Callable[[], float] = time.monotonic
        self._held: tuple[str, float] = ("", 0.0)  # token, clock() until which it is used

    @property
    def cache_key(self) -> str:
        c = self.credentials
        digest = hashlib.sha256(f"{c.token_url}\n{c.client_id}\n{c.scope}".encode()).hexdigest()
        return f"connectors:adobe-ims-token:{digest[:32]}"

    def secrets(self) -> tuple[str, ...]:
        return (self.credentials.client_secret,)

    def token(self) -> str:
        """A valid access token: held in memory, else from the cache, else freshly fetched
        (and cached)."""
        held, until = self._held
        if held and self.clock() < until:
            return held
        cached = self.cache.get(self.cache_key)
        if isinstance(cached, str) and cached:
            return self._hold(cached, min(MEMORY_SECONDS, self.margin))
        fresh = self.fetch()
        seconds = fresh.cache_seconds(self.margin)
        self.cache.set(self.cache_key, fresh.access_token, seconds)
        return self._hold(fresh.access_token, min(MEMORY_SECONDS, seconds))

    def _hold(self, token: str, seconds: float) -> str:
        self._held = (token, self.clock() + seconds)
        return token

    def invalidate(self) -> None:
        """Forget the token (Adobe refused it); the next `token()` fetches a new one."""
        self._held = ("", 0.0)
        self.cache.delete(self.cache_key)

    def fetch(self) -> AccessToken:
        c = self.credentials
        form = {"grant_type": "client_credentials", "client_id": c.client_id,
                "client_secret": c.client_secret, "scope": c.scope}
        body = self.request_json("POST", c.token_url, operation="fetch_token", data=form)
        token = body.get("access_token") if isinstance(body, dict) else None
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise self.malformed("fetch_token", "no access_token/expires_in")
        return AccessToken(token, int(expires_in), str(body.get("token_type", "bearer")))

    def raise_for_response(self, response: requests.Response, operation: str) -> None:
        body = safe_json(response)
        body = body if isinstance(body, dict) else {}
        error = str(body.get("error") or "")
        description = str(body.get("error_description") or "")
        detail = ": ".join(part for part in (error, description) if part) or None
        if error in CREDENTIAL_ERRORS or response.status_code in (401, 403):
            hint = ("check ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET and ADOBE_SCOPES against the "
                    "OAuth server-to-server credential in the Adobe Developer Console")
            raise AuthError(
                f"Adobe IMS refused the OAuth credential: {detail or response.reason} "
                f"(HTTP {response.status_code}) — {hint}",
                status=response.status_code, code=error or None)
        raise self.http_error(response, operation=operation, detail=detail, code=error or None)


class AdobeApi(Transport):
    """Base for Adobe Platform APIs: the headers every call needs, Adobe's error bodies, and
    one token refresh when Adobe answers 401 (a token can be revoked before it expires)."""

    vendor = "adobe"
    label = "Adobe"

    def __init__(self, tokens: AdobeTokenProvider, base_url: str, *,
                 session: requests.Session | None = None,
                 on_attempt: AttemptHook | None = None) -> None:
        super().__init__(session=session, on_attempt=on_attempt)
        self.tokens = tokens
        self.base_url = base_url.rstrip("/")

    def secrets(self) -> tuple[str, ...]:
        return self.tokens.secrets()

    def auth_headers(self) -> dict[str, str]:
        """Authorization, x-api-key and x-gw-ims-org-id (docs/vendors.md, Adobe Privacy Service)."""
        c = self.tokens.credentials
        return {"Authorization": f"Bearer {self.tokens.token()}", "x-api-key": c.client_id,
                "x-gw-ims-org-id": c.org_id}

    def extra_headers(self) -> dict[str, str]:
        """Headers a particular Adobe API adds to every call (Data Hygiene: x-sandbox-name)."""
        return {}

    def call(self, method: str, path: str, *, operation: str, ok: tuple[int, ...] = (200,),
             params: Mapping[str, str] | None = None, json: Any = None) -> Any:
        """Call `base_url + path` and return the JSON body; on 401 refetch the token once."""
        try:
            return self._call_once(method, path, operation, ok, params, json)
        except AuthError as exc:
            if exc.status != 401:
                raise
        self.tokens.invalidate()
        return self._call_once(method, path, operation, ok, params, json)

    def _call_once(self, method: str, path: str, operation: str, ok: tuple[int, ...],
                   params: Mapping[str, str] | None, json: Any) -> Any:
        headers = {**self.auth_headers(), **self.extra_headers()}
        if json is not None:
            headers["Content-Type"] = "application/json"
        return self.request_json(method, self.base_url + path, operation=operation, ok=ok,
                                 params=params, headers=headers, json=json)

    def raise_for_response(self, response: requests.Response, operation: str) -> None:
        code, detail = adobe_error_detail(safe_json(response))
        raise self.http_error(response, operation=operation, detail=detail, code=code,
                              hint=adobe_hint(response.status_code, detail or ""))


def adobe_error_detail(body: Any) -> tuple[str | None, str | None]:
    """(code, text) from the shapes Adobe uses: RFC 7807 problem details (title/detail),
    gateway errors (error_code/message), {reason, message}, and a nested `errors`."""
    if not isinstance(body, dict):
        return None, None
    nested = body.get("errors")
    if isinstance(nested, list) and nested and isinstance(nested[0], dict):
        nested = nested[0]
    if isinstance(nested, dict) and not any(body.get(k) for k in ("title", "message", "detail")):
        body = {**nested, **{k: v for k, v in body.items() if k != "errors"}}
    code = next((str(body[k]) for k in ("error_code", "errorCode", "code") if body.get(k)), None)
    texts = [str(body[k]) for k in ("title", "message", "detail", "errorMessage",
                                    "error_description", "reason") if body.get(k)]
    return code, ": ".join(dict.fromkeys(texts)) or None


def adobe_hint(status: int, detail: str) -> str | None:
    """What an officer should do about an Adobe error, from the status and Adobe's words."""
    text = detail.lower()
    if status == 401:
        return ("Adobe refused the access token; check ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET "
                "and ADOBE_SCOPES")
    if status == 403:
        return ("the credential may not use this API; check the Developer Console project's "
                "product profile and ADOBE_ORG_ID")
    if status == 429:
        # Privacy Service troubleshooting guide (docs/vendors.md [PS-FAQ]): HTTP 429 = over the
        # monitored limit
        return ("Adobe throttles submissions over its monitored limit; wait before sending "
                "more (Privacy Service is not for data cleanup)")
    if "namespace" in text:
        return "fix the identity namespace (a custom namespace needs type 'custom')"
    if "regulation" in text:
        return "use a current regulation code"
    return None
