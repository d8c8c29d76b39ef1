"""Two-factor sign-in for staff: the /admin/ gate, authenticator apps, recovery codes, WebAuthn.

WebAuthn ceremonies are run against django-otp-webauthn's endpoints with a software
authenticator (`SoftKey`): a P-256 key that builds "none" attestations and signs assertions
exactly as a browser's authenticator would, so py_webauthn verifies real signatures.
"""

import base64
import hashlib
import io
import json
import subprocess
import sys
import time

import cbor2
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from cases import two_factor
from cases.admin_steps import step_url_name
from cases.audit import Actor
from cases.models import AuditEvent
from cases.security import SSO_SESSION_KEY

PASSWORD = "correct horse battery"
ORIGIN = "http://testserver"


@pytest.fixture
def require_2fa(settings):
    settings.REQUIRE_2FA = True


@pytest.fixture(autouse=True)
def no_throttle(settings):
    # django-otp makes each try after a failure wait 1, 2, 4 ... s; these tests check codes,
    # not waiting (the throttle has its own test below).
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def _code(device: TOTPDevice, offset: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset * device.step
    return f"{totp.token():0{device.digits}d}"


def _app(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def _password_login(client, user) -> None:
    response = client.post(
        reverse("admin:login"), {"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 302, "password step refused"


def _admin_pages(case) -> dict[str, str]:
    return {
        "index": reverse("admin:index"),
        "changelist": reverse("admin:cases_case_changelist"),
        "change page": reverse("admin:cases_case_change", args=[case.pk]),
        "step": reverse(f"admin:{step_url_name('hold')}", args=[case.pk]),
        "audit export": reverse("admin:cases_auditevent_export"),
        "case file": reverse("admin:cases_case_case_file", args=[case.pk]),
        "password change": reverse("admin:password_change"),
    }


# --- The gate ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("require_2fa")
def test_staff_without_a_device_reach_only_enrolment(client, officer, make_case):
    case = make_case()
    _password_login(client, officer)
    for kind, url in _admin_pages(case).items():
        response = client.get(url)
        assert response.status_code == 302, kind
        assert response["Location"].startswith(reverse("two_factor:index") + "?next="), kind
    page = client.get(reverse("two_factor:index"))
    assert page.status_code == 200
    assert b"needs a second factor" in page.content


@pytest.mark.usefixtures("require_2fa")
def test_posts_under_admin_are_gated_too(client, officer, make_case):
    case = make_case()
    _password_login(client, officer)
    response = client.post(reverse(f"admin:{step_url_name('hold')}", args=[case.pk]), {})
    assert response.status_code == 302
    assert response["Location"] == reverse("two_factor:index")


@pytest.mark.usefixtures("require_2fa")
def test_api_portal_and_login_pages_are_not_gated(client, officer):
    _password_login(client, officer)
    assert client.get(reverse("admin:login")).status_code in (200, 302)
    assert client.get("/api/v1/cases/").status_code == 401  # Api-Key, not the session
    assert client.get("/portal/").status_code != 302


@pytest.mark.usefixtures("require_2fa")
def test_an_sso_session_counts_as_second_factor(client, officer):
    client.force_login(officer)
    session = client.session
    session[SSO_SESSION_KEY] = True
    session.save()
    assert client.get(reverse("admin:index")).status_code == 200


def test_without_require_2fa_the_password_alone_signs_in_as_today(client, officer, settings):
    settings.REQUIRE_2FA = False
    _password_login(client, officer)
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize(("debug", "expected"), [("false", "True"), ("true", "False")])
def test_require_2fa_defaults_on_when_debug_is_off(settings, debug, expected):
    """config/settings.py read as production reads it (no test runner), with DEBUG as given."""
    env = {
        "DEBUG": debug,
        "SECRET_KEY": "x" * 60,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "example.com",
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    script = "from django.conf import settings as s; print(s.REQUIRE_2FA)"
    result = subprocess.run(  # noqa: S603 (our own interpreter and a fixed script)
        [sys.executable, "-c", script], env=env, cwd=settings.BASE_DIR,
        capture_output=True, text=True, check=False,
    )
    assert result.stdout.strip() == expected, result.stderr


# --- Authenticator apps ------------------------------------------------------------------------


@pytest.mark.usefixtures("require_2fa")
def test_enrolling_an_app_shows_its_qr_and_confirms_with_a_code(client, officer):
    _password_login(client, officer)
    page = client.get(reverse("two_factor:totp"))
    assert page.status_code == 200
    assert b"<svg" in page.content and b"<path" in page.content
    device = TOTPDevice.objects.get(user=officer, confirmed=False)
    secret = base64.b32encode(device.bin_key).decode()
    assert secret.encode() in page.content

    wrong = client.post(reverse("two_factor:totp"), {"token": "000000"})
    assert wrong.status_code == 200 and b"not right" in wrong.content
    done = client.post(reverse("two_factor:totp"), {"token": _code(device)})

    assert done.status_code == 200
    assert len(done.context["codes"]) == two_factor.RECOVERY_CODE_COUNT
    device.refresh_from_db()
    assert device.confirmed
    added = AuditEvent.objects.get(action="auth.2fa_device_added")
    assert added.actor_id == str(officer.pk) and added.details == {"kind": "totp"}
    assert AuditEvent.objects.filter(action="auth.2fa_recovery_codes_regenerated").count() == 1
    assert client.get(reverse("admin:index")).status_code == 200  # this session is verified


@pytest.mark.parametrize("required", [True, False])
def test_staff_with_an_app_give_a_code_after_the_password(client, officer, settings, required):
    settings.REQUIRE_2FA = required
    device = _app(officer)
    _password_login(client, officer)
    index = reverse("admin:index")
    assert client.get(index)["Location"] == f"{reverse('two_factor:verify')}?next=%2Fadmin%2F"

    wrong = client.post(reverse("two_factor:verify"), {"token": "123456", "next": index})
    assert wrong.status_code == 200 and b"not right" in wrong.content
    assert client.get(index).status_code == 302
    failed = AuditEvent.objects.get(action="auth.2fa_failed")
    assert failed.details == {"method": "code", "user_id": officer.pk}  # never the code

    right = client.post(reverse("two_factor:verify"), {"token": _code(device), "next": index})
    assert right.status_code == 302 and right["Location"] == index
    assert client.get(index).status_code == 200
    assert AuditEvent.objects.filter(action="auth.2fa_verified").count() == 1


def test_a_code_is_refused_for_an_unsafe_next_and_goes_home(client, officer):
    device = _app(officer)
    _password_login(client, officer)
    response = client.post(
        reverse("two_factor:verify"), {"token": _code(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("admin:index")


def test_wrong_codes_throttle_the_device(client, officer, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    device = _app(officer)
    _password_login(client, officer)
    client.post(reverse("two_factor:verify"), {"token": "000000"})
    response = client.post(reverse("two_factor:verify"), {"token": _code(device)})
    assert response.status_code == 200  # the right code, but too soon after a wrong one
    assert client.get(reverse("admin:index")).status_code == 302


def test_a_password_alone_cannot_enrol_another_device(client, officer):
    _app(officer)
    _password_login(client, officer)
    verify = reverse("two_factor:verify")
    assert client.get(reverse("two_factor:index"))["Location"] == verify
    assert client.get(reverse("two_factor:totp"))["Location"] == verify
    assert client.post(reverse("two_factor:recovery_codes"))["Location"] == verify
    begin = client.post(
        reverse("otp_webauthn:credential-registration-begin"), content_type="application/json"
    )
    assert begin.status_code == 403
    assert TOTPDevice.objects.filter(user=officer).count() == 1


# --- Recovery codes ----------------------------------------------------------------------------


def test_a_recovery_code_works_once(client, officer):
    _app(officer)
    codes = two_factor.regenerate_recovery_codes(officer, actor=Actor.for_user(officer))
    assert len(set(codes)) == 10

    _password_login(client, officer)
    first = client.post(reverse("two_factor:verify"), {"token": codes[0].upper()})
    assert first.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    client.post(reverse("admin:logout"))

    _password_login(client, officer)
    again = client.post(reverse("two_factor:verify"), {"token": codes[0]})
    assert again.status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302
    assert StaticToken.objects.filter(device__user=officer).count() == 9


def test_regenerating_recovery_codes_replaces_the_old_ones(client, officer):
    device = _app(officer)
    old = two_factor.regenerate_recovery_codes(officer, actor=Actor.for_user(officer))
    _password_login(client, officer)
    client.post(reverse("two_factor:verify"), {"token": _code(device)})

    page = client.post(reverse("two_factor:recovery_codes"))
    new = page.context["codes"]
    assert page.status_code == 200 and len(new) == 10
    stored = set(StaticToken.objects.filter(device__user=officer).values_list("token", flat=True))
    assert stored == set(new) and not stored & set(old)
    event = AuditEvent.objects.filter(action="auth.2fa_recovery_codes_regenerated").last()
    assert event.details == {"count": 10}
    assert not any(code in json.dumps(event.details) for code in new)


def test_removing_the_last_app_removes_the_recovery_codes(client, officer, require_2fa):
    device = _app(officer)
    two_factor.regenerate_recovery_codes(officer, actor=Actor.for_user(officer))
    _password_login(client, officer)
    client.post(reverse("two_factor:verify"), {"token": _code(device)})

    response = client.post(reverse("two_factor:remove", args=["totp", device.pk]))
    assert response["Location"] == reverse("two_factor:index")
    assert not TOTPDevice.objects.filter(user=officer).exists()
    assert not StaticDevice.objects.filter(user=officer).exists()
    removed = AuditEvent.objects.filter(action="auth.2fa_device_removed")
    assert sorted(event.details["kind"] for event in removed) == ["recovery", "totp"]


def test_one_cannot_remove_someone_elses_device(client, officer, auditor):
    theirs = _app(auditor)
    mine = _app(officer)
    _password_login(client, officer)
    client.post(reverse("two_factor:verify"), {"token": _code(mine)})
    response = client.post(reverse("two_factor:remove", args=["totp", theirs.pk]))
    assert response.status_code == 404
    assert TOTPDevice.objects.filter(pk=theirs.pk).exists()


# --- WebAuthn ----------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftKey:
    """A software FIDO2 authenticator: one ES256 credential, "none" attestation."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = b"soft-key-" + hashlib.sha256(str(id(self)).encode()).digest()[:16]
        self.sign_count = 0

    def _cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})  # EC2 key, ES256, P-256

    @staticmethod
    def _client_data(kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": ORIGIN, "crossOrigin": False}
        ).encode()

    def create(self, options: dict) -> dict:
        rp_hash = hashlib.sha256(options["rp"]["id"].encode()).digest()
        attested = (
            bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id
            + self._cose_public_key()
        )
        auth_data = rp_hash + bytes([0x45]) + self.sign_count.to_bytes(4, "big") + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"])
        return {
            "id": _b64url(self.credential_id),
            "rawId": _b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": _b64url(client_data),
                "attestationObject": _b64url(attestation),
                "transports": ["usb"],
            },
            "clientExtensionResults": {},
        }

    def get(self, options: dict, *, tamper: bool = False) -> dict:
        self.sign_count += 1
        rp_hash = hashlib.sha256(options["rpId"].encode()).digest()
        auth_data = rp_hash + bytes([0x05]) + self.sign_count.to_bytes(4, "big")
        client_data = self._client_data("webauthn.get", options["challenge"])
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.private_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        if tamper:
            auth_data = rp_hash + bytes([0x05]) + (self.sign_count + 7).to_bytes(4, "big")
        return {
            "id": _b64url(self.credential_id),
            "rawId": _b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": _b64url(client_data),
                "authenticatorData": _b64url(auth_data),
                "signature": _b64url(signature),
            },
            "clientExtensionResults": {},
        }


def _post_json(client, name: str, body: dict | None = None):
    return client.post(reverse(name), json.dumps(body or {}), content_type="application/json")


def _register(client, key: SoftKey) -> WebAuthnCredential:
    options = _post_json(client, "otp_webauthn:credential-registration-begin").json()
    assert options["rp"]["id"] == "testserver"
    completion = key.create(options)
    response = _post_json(client, "otp_webauthn:credential-registration-complete", completion)
    assert response.status_code == 200, response.content
    return WebAuthnCredential.objects.get(pk=response.json()["id"])


@pytest.mark.usefixtures("require_2fa")
def test_a_security_key_registers_and_then_signs_in(client, officer):
    key = SoftKey()
    _password_login(client, officer)
    credential = _register(client, key)
    assert credential.user == officer
    added = AuditEvent.objects.get(action="auth.2fa_device_added")
    assert added.details == {"kind": "webauthn"} and added.object_id == str(credential.pk)
    assert client.get(reverse("admin:index")).status_code == 200
    client.post(reverse("admin:logout"))

    _password_login(client, officer)
    assert client.get(reverse("admin:index"))["Location"].startswith(reverse("two_factor:verify"))
    options = _post_json(client, "otp_webauthn:credential-authentication-begin").json()
    assert [c["id"] for c in options["allowCredentials"]] == [_b64url(key.credential_id)]
    done = _post_json(client, "otp_webauthn:credential-authentication-complete", key.get(options))
    assert done.status_code == 200, done.content
    assert client.get(reverse("admin:index")).status_code == 200
    assert AuditEvent.objects.filter(action="auth.2fa_verified", details__kind="webauthn").exists()


@pytest.mark.usefixtures("require_2fa")
def test_a_bad_key_signature_is_refused_and_audited(client, officer):
    key = SoftKey()
    _password_login(client, officer)
    _register(client, key)
    client.post(reverse("admin:logout"))

    _password_login(client, officer)
    options = _post_json(client, "otp_webauthn:credential-authentication-begin").json()
    refused = _post_json(
        client, "otp_webauthn:credential-authentication-complete", key.get(options, tamper=True)
    )
    assert refused.status_code >= 400
    assert client.get(reverse("admin:index")).status_code == 302
    failed = AuditEvent.objects.get(action="auth.2fa_failed")
    assert failed.details == {"method": "webauthn", "user_id": officer.pk}


def test_a_key_cannot_sign_in_without_the_password(client, officer):
    response = _post_json(client, "otp_webauthn:credential-authentication-begin")
    assert response.status_code >= 400  # no passwordless login


def test_an_operator_can_reset_a_users_devices(officer):
    _app(officer)
    two_factor.regenerate_recovery_codes(officer, actor=Actor.for_user(officer))
    out = io.StringIO()
    call_command("reset_two_factor", officer.username, stdout=out)
    assert out.getvalue().strip() == f"Removed 2 device(s) of user {officer.pk}."
    assert not TOTPDevice.objects.filter(user=officer).exists()
    assert not StaticDevice.objects.filter(user=officer).exists()
    removed = AuditEvent.objects.filter(action="auth.2fa_device_removed")
    assert {event.actor_label for event in removed} == {"manage.py reset_two_factor"}


def test_resetting_an_unknown_user_says_so(db):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("reset_two_factor", "nobody")
