"""Two-factor sign-in in real Chromium: enrol an authenticator app and sign in with it; register
a security key on Chromium's virtual authenticator (DevTools WebAuthn domain) and sign in with it.
"""

import base64
import time

import pytest
from django_otp.oath import TOTP
from django_otp_webauthn.models import WebAuthnCredential

from cases.models import AuditEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def require_2fa(settings):
    settings.REQUIRE_2FA = True


def _code(secret: str, steps_ahead: int = 0) -> str:
    totp = TOTP(base64.b32decode(secret), step=30, t0=0, digits=6, drift=0)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def _password(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


def _log_out(page) -> None:
    page.click("#logout-form button")
    page.wait_for_selector("text=Log in again")


def test_officer_enrols_an_authenticator_app_then_signs_in_with_it(
    browser_page, live_server, officer, tmp_path
):
    page = browser_page
    _password(page, live_server, officer.username)
    page.wait_for_url(f"{live_server.url}/admin/two-factor/?next=%2Fadmin%2F")
    assert page.locator("#pd-2fa-required").is_visible()
    page.goto(f"{live_server.url}/admin/cases/case/")  # nothing else opens before enrolment
    page.wait_for_url(f"{live_server.url}/admin/two-factor/?next=*")

    page.click("#pd-add-app")
    assert page.locator("#pd-totp-qr svg").is_visible()
    secret = page.inner_text("#pd-totp-secret").strip()
    page.fill("#id_token", "000000")
    page.click("input[value=Confirm]")
    assert page.locator(".errorlist").is_visible()
    time.sleep(1.5)  # django-otp makes the try after a wrong code wait a second
    page.fill("#id_token", _code(secret))
    page.click("input[value=Confirm]")
    page.wait_for_selector("#pd-recovery-codes")
    assert page.locator("#pd-recovery-codes li").count() == 10
    page.screenshot(path=str(tmp_path / "recovery-codes.png"), full_page=True)
    page.click("text=Done")
    assert page.locator("section[aria-labelledby=pd-2fa-apps] tbody tr").count() == 1

    page.goto(f"{live_server.url}/admin/")
    assert page.locator("#pd-queue").is_visible()
    _log_out(page)

    _password(page, live_server, officer.username)
    page.wait_for_url(f"{live_server.url}/admin/two-factor/verify/?next=*")
    page.fill("#id_token", "123456")
    page.click("input[value=Verify]")
    assert page.locator(".errorlist").is_visible()
    time.sleep(1.5)
    page.fill("#id_token", _code(secret, steps_ahead=1))  # the enrolment used this step's code
    page.click("input[value=Verify]")
    page.wait_for_url(f"{live_server.url}/admin/")
    assert page.locator("#pd-queue").is_visible()
    assert AuditEvent.objects.filter(action="auth.2fa_failed").count() == 2


def test_officer_registers_a_security_key_then_signs_in_with_it(
    browser_page, live_server, officer, tmp_path
):
    page = browser_page
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    _password(page, live_server, officer.username)
    page.wait_for_url(f"{live_server.url}/admin/two-factor/?next=*")
    page.click("#passkey-register-button")
    page.wait_for_selector("#pd-two-factor table tbody tr")  # the page reloads with the key
    assert WebAuthnCredential.objects.filter(user=officer).count() == 1
    page.screenshot(path=str(tmp_path / "key-registered.png"), full_page=True)
    page.goto(f"{live_server.url}/admin/")
    assert page.locator("#pd-queue").is_visible()
    _log_out(page)

    _password(page, live_server, officer.username)
    page.wait_for_url(f"{live_server.url}/admin/two-factor/verify/?next=*")
    page.click("#passkey-verification-button")
    page.wait_for_url(f"{live_server.url}/admin/")
    assert page.locator("#pd-queue").is_visible()
    assert AuditEvent.objects.filter(action="auth.2fa_verified", details__kind="webauthn").exists()
