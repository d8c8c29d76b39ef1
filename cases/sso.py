"""Single sign-on with OpenID Connect (mozilla-django-oidc), optional (settings.SSO_ENABLED).

The provider's groups claim decides the role: a user in one of OIDC_OFFICER_GROUPS becomes a
Compliance officer, one in OIDC_AUDITOR_GROUPS an Auditor (both: officer). A user in neither is
refused with a page saying so, and loses any role a previous sign-on gave. SSO accounts are
matched by the provider's subject (`sub`), never by email, so a provider cannot take over a
local account by asserting its address. A successful sign-on counts as the second factor
(`request.session["privacy_desk_sso"]`).
"""

import hashlib
import logging
import re

import jwt
import requests
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from cases.groups import AUDITOR, OFFICER

log = logging.getLogger(__name__)

SSO_SESSION_KEY = "privacy_desk_sso"
REFUSAL_ATTR = "privacy_desk_sso_refusal"
DISCOVERY_CACHE_SECONDS = 3600
USERNAME_PREFIX = "sso-"
_PLAIN_SUB = re.compile(r"^[\w.@+-]{1,120}$")
# settings name -> the discovery document's key (OpenID Connect Discovery 1.0, section 3)
_DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


def _discovery() -> dict:
    key = "oidc-discovery:" + hashlib.sha256(settings.OIDC_ISSUER.encode()).hexdigest()[:16]
    document = cache.get(key)
    if document is None:
        url = f"{settings.OIDC_ISSUER}/.well-known/openid-configuration"
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
        if document.get("issuer", "").rstrip("/") != settings.OIDC_ISSUER:
            raise ImproperlyConfigured(
                f"The discovery document at {url} names another issuer: check OIDC_ISSUER."
            )
        cache.set(key, document, DISCOVERY_CACHE_SECONDS)
    return document


def endpoint(name: str) -> str:
    """An OP endpoint: the explicit setting when given, else from OIDC_ISSUER's discovery."""
    explicit = getattr(settings, name, "")
    if explicit or not settings.OIDC_ISSUER:
        return explicit
    return _discovery()[_DISCOVERED[name]]


def roles_for(claims: dict) -> list[str]:
    """The Privacy Desk roles the provider's groups claim maps to (may be empty)."""
    groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    if set(groups) & set(settings.OIDC_OFFICER_GROUPS):
        return [OFFICER]
    if set(groups) & set(settings.OIDC_AUDITOR_GROUPS):
        return [AUDITOR]
    return []


class OIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend: endpoints resolved lazily (a local sign-in never touches
    the provider), the ID token's audience and issuer checked, users keyed by `sub`."""

    def __init__(self, *args, **kwargs) -> None:
        # The parent reads every endpoint here, for every authenticate() of every sign-in.
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        if not settings.SSO_ENABLED or request is None or "nonce" not in kwargs:
            return None  # only the callback view (cases.sso.CallbackView) signs in through here
        self.OIDC_OP_TOKEN_ENDPOINT = endpoint("OIDC_OP_TOKEN_ENDPOINT")
        self.OIDC_OP_USER_ENDPOINT = endpoint("OIDC_OP_USER_ENDPOINT")
        self.OIDC_OP_JWKS_ENDPOINT = endpoint("OIDC_OP_JWKS_ENDPOINT")
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        try:
            return super().authenticate(request, **kwargs)
        except (SuspiciousOperation, requests.RequestException) as exc:
            # A forged or stale token, or a provider that failed: the failure page, not a 400/500.
            log.warning("Single sign-on failed: %s", type(exc).__name__)
            return None

    def _refuse(self, reason: str):
        """The provider signed the user in, but Privacy Desk will not (REFUSAL_TEXT[reason])."""
        setattr(self.request, REFUSAL_ATTR, reason)
        raise SuspiciousOperation(f"single sign-on refused: {reason}")

    def _verify_jws(self, payload, key):
        """The signature (the parent), then what the parent leaves out: `aud` is our client id,
        `iss` the configured issuer, and `exp`/`iat`/`sub` present (OpenID Connect Core 3.1.3.7)."""
        super()._verify_jws(payload, key)
        try:
            return jwt.decode(
                payload, key, algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.OIDC_ISSUER or None,
                options={"require": ["exp", "iat", "sub", "aud"],
                         "verify_iss": bool(settings.OIDC_ISSUER)},
            )
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"ID token refused: {exc}") from exc

    def verify_claims(self, claims) -> bool:
        return bool(claims.get("sub"))

    def get_username(self, claims) -> str:
        sub = str(claims["sub"])
        if _PLAIN_SUB.match(sub):
            return USERNAME_PREFIX + sub
        return USERNAME_PREFIX + hashlib.sha256(sub.encode()).hexdigest()[:32]

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=self.get_username(claims))

    def create_user(self, claims):
        roles = roles_for(claims)
        if not roles:
            self._refuse("no_role")
        user = self.UserModel.objects.create_user(self.get_username(claims))
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        roles = roles_for(claims)
        user.email = str(claims.get("email") or "")[:254]
        user.first_name = str(claims.get("given_name") or "")[:150]
        user.last_name = str(claims.get("family_name") or "")[:150]
        user.is_staff = bool(roles)
        user.save()
        role_groups = Group.objects.filter(name__in=[OFFICER, AUDITOR])
        user.groups.remove(*[group for group in role_groups if group.name not in roles])
        user.groups.add(*[group for group in role_groups if group.name in roles])
        if not roles:
            self._refuse("no_role")
        if not user.is_active:
            self._refuse("inactive")
        log.info("Single sign-on: user=%s roles=%s", user.pk, ",".join(roles))
        return user


class AuthenticateView(OIDCAuthenticationRequestView):
    """/sso/authenticate/: off (404) unless SSO is configured; endpoints read at request time."""

    def __init__(self, *args, **kwargs) -> None:
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request: HttpRequest) -> HttpResponse:
        if not settings.SSO_ENABLED:
            raise Http404("Single sign-on is not configured.")
        self.OIDC_OP_AUTH_ENDPOINT = endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")
        return super().get(request)


REFUSAL_TEXT = {
    "no_role": (
        "Your organisation's sign-on does not give your account a Privacy Desk role. Ask your "
        "administrator to add you to the compliance officer or auditor group."
    ),
    "inactive": "This Privacy Desk account is disabled. Ask a Privacy Desk administrator.",
    "failed": (
        "Single sign-on did not complete (it was cancelled, took too long, or the answer from "
        "the sign-on service could not be verified). Try again from the sign-in page."
    ),
}


class CallbackView(OIDCAuthenticationCallbackView):
    """/sso/callback/: on success the session is marked as SSO (the second factor); on failure a
    page says why, instead of a bare redirect."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not settings.SSO_ENABLED:
            raise Http404("Single sign-on is not configured.")
        return super().get(request)

    def login_success(self) -> HttpResponse:
        response = super().login_success()
        self.request.session[SSO_SESSION_KEY] = True
        return response

    def login_failure(self) -> HttpResponse:
        reason = getattr(self.request, REFUSAL_ATTR, "failed")
        log.warning("Single sign-on refused: %s", reason)
        return render(
            self.request, "registration/sso_refused.html",
            {"message": REFUSAL_TEXT[reason]}, status=403,
        )
