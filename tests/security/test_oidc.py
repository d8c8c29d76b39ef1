"""Single sign-on: a real OpenID Connect flow against a provider on loopback
(tests/security/oidc_provider.py), driven with Django's test client on our side and `requests`
on the provider's side."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import User
from django.test import Client

from cases.models import AuditEvent
from tests.security.oidc_provider import Provider

ROOT = Path(__file__).resolve().parents[2]
OFFICER_CLAIMS = {
    "sub": "248289761001", "email": "jane.officer@example.com", "given_name": "Jane",
    "family_name": "Officer", "groups": ["staff", "privacy-officers"],
}


@pytest.fixture
def provider(settings, db):
    op = Provider().start()
    settings.SSO_ENABLED = True
    settings.OIDC_ISSUER = op.url
    settings.OIDC_RP_CLIENT_ID = op.client_id
    settings.OIDC_RP_CLIENT_SECRET = op.client_secret
    settings.OIDC_OFFICER_GROUPS = ["privacy-officers"]
    settings.OIDC_AUDITOR_GROUPS = ["privacy-auditors"]
    yield op
    op.stop()


def sign_on(client: Client, provider: Provider, claims: dict):
    """The browser's part: our /sso/authenticate/, the provider's /authorize (auto-consent),
    back to our /sso/callback/. Returns the callback's response."""
    provider.next_claims = claims
    start = client.get("/sso/authenticate/", {"next": "/admin/"})
    assert start.status_code == 302 and start["Location"].startswith(f"{provider.url}/authorize")
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert at_provider.status_code == 302, "the provider refused the authorization request"
    back = urlsplit(at_provider.headers["Location"])
    assert back.path == "/sso/callback/"
    return client.get(f"{back.path}?{back.query}")


def _groups(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_an_officer_signs_on_and_reaches_the_admin(client, provider):
    response = sign_on(client, provider, OFFICER_CLAIMS)

    assert response.status_code == 302 and response["Location"] == "/admin/"
    user = User.objects.get(username="sso-248289761001")
    assert (user.email, user.get_full_name(), user.is_staff) == (
        "jane.officer@example.com", "Jane Officer", True,
    )
    assert _groups(user) == {"Compliance officer"}
    assert not user.has_usable_password()
    assert client.session["privacy_desk_sso"] is True  # counts as the second factor
    assert client.get("/admin/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.login", actor_id=str(user.pk)).exists()


def test_an_auditor_group_maps_to_the_auditor_role(client, provider):
    sign_on(client, provider, {**OFFICER_CLAIMS, "groups": ["privacy-auditors"]})

    assert _groups(User.objects.get(username="sso-248289761001")) == {"Auditor"}


def test_claims_update_the_user_at_each_sign_on(client, provider):
    sign_on(client, provider, OFFICER_CLAIMS)
    sign_on(Client(), provider, {**OFFICER_CLAIMS, "family_name": "Married",
                                 "groups": ["privacy-auditors"]})

    user = User.objects.get(username="sso-248289761001")
    assert user.last_name == "Married"
    assert _groups(user) == {"Auditor"}


def test_no_mapped_group_is_refused_with_a_page(client, provider):
    response = sign_on(client, provider, {**OFFICER_CLAIMS, "groups": ["staff"]})

    assert response.status_code == 403
    assert "does not give your account a Privacy Desk role" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(username="sso-248289761001").exists()


def test_losing_the_group_at_the_provider_removes_the_role(client, provider):
    sign_on(client, provider, OFFICER_CLAIMS)

    response = sign_on(Client(), provider, {**OFFICER_CLAIMS, "groups": []})

    assert response.status_code == 403
    user = User.objects.get(username="sso-248289761001")
    assert _groups(user) == set() and not user.is_staff


def test_a_local_account_with_the_same_email_is_not_taken_over(client, provider, officer):
    officer.email = OFFICER_CLAIMS["email"]
    officer.save()

    sign_on(client, provider, OFFICER_CLAIMS)

    assert client.session["_auth_user_id"] != str(officer.pk)
    officer.refresh_from_db()
    assert officer.has_usable_password() and officer.username == "olivia"


def test_a_token_for_another_audience_is_refused(client, provider):
    provider.audience = "some-other-app"

    response = sign_on(client, provider, OFFICER_CLAIMS)

    assert response.status_code == 403
    assert "could not be verified" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_token_signed_with_another_key_is_refused(client, provider):
    provider.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert sign_on(client, provider, OFFICER_CLAIMS).status_code == 403
    assert "_auth_user_id" not in client.session


def test_explicit_endpoints_work_without_discovery(client, provider, settings):
    settings.OIDC_ISSUER = ""
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{provider.url}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{provider.url}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{provider.url}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{provider.url}/jwks"

    assert sign_on(client, provider, OFFICER_CLAIMS).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_local_accounts_still_sign_in(client, provider, officer):
    response = client.post("/admin/login/", {"username": "olivia",
                                             "password": "correct horse battery",
                                             "next": "/admin/"})

    assert response.status_code == 302
    assert "privacy_desk_sso" not in client.session


def test_the_sign_in_page_offers_sso_only_when_configured(client, settings, db):
    settings.SSO_ENABLED = False
    assert "Sign in with SSO" not in client.get("/admin/login/").content.decode()
    assert client.get("/sso/authenticate/").status_code == 404

    settings.SSO_ENABLED = True
    assert "Sign in with SSO" in client.get("/admin/login/").content.decode()


def _manage_check(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OIDC_")}
    clean.update({"DEBUG": "true", "DATABASE_URL": "sqlite:///:memory:", **env})
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=clean,
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OIDC_CLIENT_ID": "pd"}, "set OIDC_ISSUER too"),
        ({"OIDC_CLIENT_ID": "pd", "OIDC_ISSUER": "https://id.example.com"},
         "needs OIDC_OFFICER_GROUPS and/or OIDC_AUDITOR_GROUPS"),
    ],
)
def test_half_configured_sso_is_refused_at_startup(env, message):
    result = _manage_check(**env)

    assert result.returncode != 0
    assert message in result.stderr

