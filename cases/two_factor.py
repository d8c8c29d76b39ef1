"""Writers for staff second factors: every change to a device goes through here, audited.

Devices are django-otp's: `TOTPDevice` (authenticator app), `StaticDevice` (one per user,
holding the recovery codes) and django-otp-webauthn's `WebAuthnCredential` (security key or
passkey). Audit events carry the user id, the device id and its kind, never a code or a key.
"""

import io
from base64 import b32encode
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from django.db import transaction
from django_otp import devices_for_user
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from cases.audit import Actor, record
from cases.security import has_second_factor

RECOVERY_CODE_COUNT = 10
RECOVERY_DEVICE_NAME = "Recovery codes"
DEVICE_KINDS: dict[str, type[Device]] = {
    "totp": TOTPDevice,
    "webauthn": WebAuthnCredential,
    "recovery": StaticDevice,
}


def device_kind(device: Device) -> str:
    return next(kind for kind, model in DEVICE_KINDS.items() if isinstance(device, model))


@dataclass(frozen=True)
class Enrolment:
    """An authenticator app being added: its secret, the otpauth URI and that URI as a QR SVG."""

    device: TOTPDevice
    secret: str
    uri: str
    qr_svg: str


def pending_totp(user) -> Enrolment:
    """The user's unconfirmed authenticator app, created on first call; not yet a factor."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    uri = device.config_url
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    # Without the XML declaration the SVG can sit inline in the page.
    svg = buffer.getvalue().decode().split("?>", 1)[-1].strip()
    secret = b32encode(device.bin_key).decode()
    return Enrolment(device=device, secret=secret, uri=uri, qr_svg=svg)


@transaction.atomic
def confirm_totp(device: TOTPDevice, token: str, *, actor: Actor) -> bool:
    """Confirm a pending authenticator app with a code it shows; False (and audited) if wrong."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
    if device.confirmed or not device.verify_token(token):
        record_failure(device.user, method="totp_enrolment", actor=actor)
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    record("auth.2fa_device_added", actor=actor, obj=device, details={"kind": "totp"})
    return True


@transaction.atomic
def key_registered(credential: WebAuthnCredential, *, actor: Actor) -> None:
    """Audit a security key that django-otp-webauthn has just verified and saved."""
    record("auth.2fa_device_added", actor=actor, obj=credential, details={"kind": "webauthn"})


@transaction.atomic
def regenerate_recovery_codes(user, *, actor: Actor) -> list[str]:
    """Replace the user's recovery codes with `RECOVERY_CODE_COUNT` new ones, returned once."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    record(
        "auth.2fa_recovery_codes_regenerated",
        actor=actor,
        obj=device,
        details={"count": RECOVERY_CODE_COUNT},
    )
    return codes


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user).count()


@transaction.atomic
def remove_device(device: Device, *, actor: Actor) -> None:
    """Remove one device; with the last app or key, the recovery codes go too."""
    user, kind, pk = device.user, device_kind(device), device.pk
    device.delete()
    record(
        "auth.2fa_device_removed",
        actor=actor,
        details={"kind": kind, "device_id": pk, "user_id": user.pk},
    )
    if kind != "recovery" and not has_second_factor(user):
        for recovery in StaticDevice.objects.filter(user=user):
            remove_device(recovery, actor=actor)


@transaction.atomic
def remove_all_devices(user, *, actor: Actor) -> int:
    """Every device of `user`, confirmed or not (an operator's reset after a lost phone)."""
    devices = list(devices_for_user(user, confirmed=None))
    for device in devices:
        if type(device).objects.filter(pk=device.pk).exists():
            remove_device(device, actor=actor)
    return len(devices)


@transaction.atomic
def verify_code(user, token: str, *, actor: Actor) -> Device | None:
    """The app or recovery device that accepts `token` (a recovery code is used up), or None.

    django-otp throttles each device after failures and refuses a TOTP code already used.
    """
    token = "".join(token.split()).lower()
    # An app shows 6 digits; recovery codes are 8 letters and digits (django-otp's random_token).
    model = TOTPDevice if len(token) == 6 and token.isdigit() else StaticDevice
    for device in model.objects.devices_for_user(user, confirmed=True).select_for_update():
        if device.verify_token(token):
            record(
                "auth.2fa_verified", actor=actor, obj=device, details={"kind": device_kind(device)}
            )
            return device
    record_failure(user, method="code", actor=actor)
    return None


def record_failure(user, *, method: str, actor: Actor) -> None:
    """A wrong code or a refused key: the user id and the method only, never what was typed."""
    record("auth.2fa_failed", actor=actor, details={"method": method, "user_id": user.pk})
