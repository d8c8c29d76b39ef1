"""Sign-in and session controls (README "Security"): the lockout backend (django-axes), session
limits, Django's CSRF check fit for `Referrer-Policy: no-referrer`, the failed-API-key limit, and
who may see a subject's contact data.

Nothing here logs or audits personal data: a username appears only as a keyed hash.
"""

import hashlib
import logging
import time
from collections.abc import Callable

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.middleware import csrf
from django.utils.crypto import salted_hmac

log = logging.getLogger(__name__)

SESSION_STARTED = "privacy_desk_started"
SESSION_SEEN = "privacy_desk_seen"
# The last request is written to the session at most this often (a write per request would be
# one UPDATE per page view); idle expiry is therefore exact to within this many seconds.
SEEN_RESOLUTION_SECONDS = 60


def username_hash(username: str | None) -> str:
    """A keyed hash of a sign-in name: the same name gives the same hash, and the name cannot be
    recovered from it without SECRET_KEY."""
    return salted_hmac("privacy-desk.username", (username or "").strip().lower()).hexdigest()[:16]


def axes_client_str(username, ip_address, user_agent, path_info, request) -> str:
    """AXES_CLIENT_STR_CALLABLE: how django-axes names an attempt in its log lines."""
    return f"user={username_hash(username)} ip={ip_address} path={path_info}"


class AxesBackend(AxesStandaloneBackend):
    """django-axes' backend, except that code which authenticates without a web request (the test
    client's `login`, scripts) is not a sign-in attempt to count: axes would raise instead."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


class CsrfViewMiddleware(csrf.CsrfViewMiddleware):
    """Django's CSRF check (cookie + form token), fit for `Referrer-Policy: no-referrer`.

    Under no-referrer browsers send a form's POST with `Origin: null` and no Referer (Fetch
    standard, "append a request Origin header"), which Django's stock check refuses. A `null`
    origin and a missing Referer pass here; a real foreign origin or Referer is still refused, and
    the form's token must match the cookie's as always (HSTS with subdomains keeps the cookie from
    being planted over plain HTTP). The portal's own check (cases.portal) works the same way.
    """

    def _origin_verified(self, request: HttpRequest) -> bool:
        return request.META.get("HTTP_ORIGIN") == "null" or super()._origin_verified(request)

    def _check_referer(self, request: HttpRequest) -> None:
        if request.META.get("HTTP_REFERER"):
            super()._check_referer(request)


def session_expiry(session, now: float) -> str | None:
    """Why this signed-in session is over ("idle" or "lifetime"), or None while it is valid."""
    started = session.get(SESSION_STARTED, now)
    seen = session.get(SESSION_SEEN, now)
    if now - started > settings.SESSION_MAX_HOURS * 3600:
        return "lifetime"
    if now - seen > settings.SESSION_IDLE_MINUTES * 60:
        return "idle"
    return None


class SessionLimitsMiddleware:
    """Sign a user out after SESSION_IDLE_MINUTES without a request, and SESSION_MAX_HOURS after
    the session began whatever the activity. The timestamps live in the session itself."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            self._check(request)
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> None:
        now = time.time()
        session = request.session
        reason = session_expiry(session, now)
        if reason is not None:
            log.info("Session ended (%s): user=%s", reason, request.user.pk)
            logout(request)
            messages.warning(request, _EXPIRED_MESSAGES[reason]())
            return
        session.setdefault(SESSION_STARTED, now)
        if now - session.get(SESSION_SEEN, 0) >= SEEN_RESOLUTION_SECONDS:
            session[SESSION_SEEN] = now


def start_session_clock(request: HttpRequest) -> None:
    """At sign-in: both clocks start now (so the first page after it writes no session)."""
    now = time.time()
    request.session[SESSION_STARTED] = now
    request.session[SESSION_SEEN] = now


_EXPIRED_MESSAGES = {
    "idle": lambda: (
        f"You were signed out after {settings.SESSION_IDLE_MINUTES} minutes without activity. "
        "Sign in again to continue."
    ),
    "lifetime": lambda: (
        f"Sessions last at most {settings.SESSION_MAX_HOURS} hours: sign in again to continue."
    ),
}


# --- Failed API keys ---------------------------------------------------------------------------


def _api_key_failure_key(request: HttpRequest, minute: int) -> str:
    address = hashlib.sha256(request.META.get("REMOTE_ADDR", "").encode()).hexdigest()[:32]
    return f"api-key-failures:{address}:{minute}"


def api_key_retry_after(request: HttpRequest) -> int | None:
    """Seconds until this address may try a key again, or None when it is under the limit
    (API_KEY_FAILURES_PER_MINUTE failed keys in the current minute)."""
    now = time.time()
    failures = cache.get(_api_key_failure_key(request, int(now // 60)), 0)
    if failures < settings.API_KEY_FAILURES_PER_MINUTE:
        return None
    return max(1, 60 - int(now % 60))


def note_api_key_failure(request: HttpRequest) -> None:
    key = _api_key_failure_key(request, int(time.time() // 60))
    cache.add(key, 0, timeout=120)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=120)


# --- Roles --------------------------------------------------------------------------------------


def may_see_contact_data(user) -> bool:
    """Whether this staff user may see a subject's name, email and identity values.

    Whoever works cases (change permission) may; a read-only role (the Auditor) sees the record
    without them unless AUDITOR_SEES_CONTACT_DATA is on."""
    if not (user.is_active and user.is_staff):
        return False
    if user.has_perm("cases.change_case"):
        return True
    return settings.AUDITOR_SEES_CONTACT_DATA and user.has_perm("cases.view_case")

