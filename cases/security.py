"""Staff sign-in and session controls (README "Security").

Two-factor: a staff session is strong once a django-otp device (authenticator app, recovery code
or WebAuthn key) verified it, or when it came through single sign-on: the SSO login sets the
session key `SSO_SESSION_KEY`, the identity provider having done its own second factor.
`TwoFactorMiddleware` gates every URL under /admin/ except the login and logout pages and the 2FA
pages themselves (enrolment, verification, the WebAuthn ceremony endpoints). The API (Api-Key)
and the subject portal are outside /admin/ and never gated.

Also here: the lockout backend (django-axes), session limits, Django's CSRF check fit for
`Referrer-Policy: no-referrer`, the failed-API-key limit, and who may see a subject's contact
data. Nothing here logs or audits personal data: a username appears only as a keyed hash.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware import csrf
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.helpers import WebAuthnHelper as BaseWebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential

from cases.audit import Actor, record

# Set (truthy) by the OIDC login: an SSO session counts as second factor satisfied.
SSO_SESSION_KEY = "privacy_desk_sso"


def is_strongly_authenticated(request: HttpRequest) -> bool:
    """True when this session passed a second factor (django-otp) or came through SSO."""
    user = getattr(request, "user", None)
    is_verified = getattr(user, "is_verified", None)
    if callable(is_verified) and is_verified():
        return True
    session = getattr(request, "session", None)
    return bool(session is not None and session.get(SSO_SESSION_KEY))


def has_second_factor(user) -> bool:
    """True when `user` has a confirmed authenticator app or security key.

    Recovery codes alone do not count: they are the fallback for a lost app or key, and they
    are removed with the last one (`cases.two_factor.remove_device`).
    """
    return (
        TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()
        or WebAuthnCredential.objects.devices_for_user(user, confirmed=True).exists()
    )


def _exempt(path: str) -> bool:
    return path in (reverse("admin:login"), reverse("admin:logout")) or path.startswith(
        reverse("two_factor:index")
    )


def _redirect(url_name: str, request: HttpRequest) -> HttpResponseRedirect:
    url = reverse(url_name)
    if request.method == "GET":
        url += "?" + urlencode({"next": request.get_full_path()})
    return HttpResponseRedirect(url)


class TwoFactorMiddleware:
    """Send a staff user who has not passed a second factor to verification or enrolment.

    With a device, the user is asked for it whatever REQUIRE_2FA says; without one, REQUIRE_2FA
    decides whether they must enrol first. Must follow django-otp's OTPMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        user = request.user
        if (
            user.is_authenticated
            and user.is_staff
            and request.path.startswith(reverse("admin:index"))
            and not _exempt(request.path)
            and not is_strongly_authenticated(request)
        ):
            if has_second_factor(user):
                return _redirect("two_factor:verify", request)
            if settings.REQUIRE_2FA:
                return _redirect("two_factor:index", request)
        return self.get_response(request)


# --- WebAuthn relying party -------------------------------------------------------------------


def webauthn_rp_id(request: HttpRequest) -> str:
    """The relying party id keys are bound to: WEBAUTHN_RP_ID, else this request's host name."""
    return settings.WEBAUTHN_RP_ID or urlsplit(f"//{request.get_host()}").hostname or ""


class WebAuthnHelper(BaseWebAuthnHelper):
    """django-otp-webauthn's helper, with the request's own origin when none is configured.

    Both ceremonies end here with the verified device (or an exception), so this is where a key
    registered, used or refused goes into the audit trail.
    """

    def get_allowed_origins(self) -> list[str]:
        if settings.WEBAUTHN_ORIGINS:
            return list(settings.WEBAUTHN_ORIGINS)
        return [f"{self.request.scheme}://{self.request.get_host()}"]

    def register_complete(self, user, state: dict, data: dict):
        from cases import two_factor

        device = super().register_complete(user=user, state=state, data=data)
        two_factor.key_registered(device, actor=Actor.for_user(user))
        return device

    def authenticate_complete(self, user, state: dict, data: dict):
        from cases import two_factor

        try:
            device = super().authenticate_complete(user=user, state=state, data=data)
        except Exception:
            if user is not None:
                two_factor.record_failure(user, method="webauthn", actor=Actor.for_user(user))
            raise
        actor = Actor.for_user(user)
        record("auth.2fa_verified", actor=actor, obj=device, details={"kind": "webauthn"})
        # A new session key for the now stronger session, as after the password (fixation).
        self.request.session.cycle_key()
        return device


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
    being planted over plain HTTP). It guards the admin and the portal's Confirm and download
    buttons alike.
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
