"""Who counts as strongly signed in, and the gate that keeps /admin/ behind a second factor.

A staff session is strong once a django-otp device (authenticator app, recovery code or WebAuthn
key) verified it, or when it came through single sign-on: the SSO login sets the session key
`SSO_SESSION_KEY`, the identity provider having done its own second factor.

`TwoFactorMiddleware` gates every URL under /admin/ except the login and logout pages and the
2FA pages themselves (enrolment, verification, the WebAuthn ceremony endpoints). The API
(Api-Key) and the subject portal are outside /admin/ and never gated.
"""

from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
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
