"""Issuing, changing and revoking API clients: every write to an ApiClient goes through here.

Keys and webhook secrets are returned once, to be shown once; only a hash of the key and the
encrypted webhook secret are kept. Each change is audited (ids and codes, never the secrets).
"""

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from cases.audit import Actor, record
from cases.models import API_KEY_PREFIX, ApiClient, hash_api_key


@dataclass(frozen=True)
class Credentials:
    """What a new client needs, shown to its operator exactly once."""

    key: str
    webhook_secret: str


def _issue_key(client: ApiClient) -> str:
    prefix = secrets.token_hex(4)
    key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    client.key_prefix = prefix
    client.key_hash = hash_api_key(key)
    return key


def _issue_webhook_secret(client: ApiClient) -> str:
    client.webhook_secret = f"whsec_{secrets.token_urlsafe(32)}"
    return client.webhook_secret


@transaction.atomic
def create_client(client: ApiClient, *, actor: Actor) -> Credentials:
    """Save a new (unsaved) client with a fresh key and webhook secret, and audit it."""
    client.full_clean()
    key = _issue_key(client)
    webhook_secret = _issue_webhook_secret(client)
    client.save()
    record(
        "api_client.created",
        actor=actor,
        obj=client,
        details={
            "client_name": client.name,
            "scopes": sorted(client.scopes),
            "webhook_configured": bool(client.webhook_url),
        },
    )
    return Credentials(key=key, webhook_secret=webhook_secret)


@transaction.atomic
def update_client(client: ApiClient, changed: Iterable[str], *, actor: Actor) -> ApiClient:
    """Save an officer's edit (name, scopes, webhook URL, active flag) and audit what changed."""
    client.full_clean()
    client.save()
    record(
        "api_client.updated",
        actor=actor,
        obj=client,
        details={"changed": sorted(changed), "scopes": sorted(client.scopes),
                 "is_active": client.is_active},
    )
    return client


@transaction.atomic
def revoke_client(client: ApiClient, *, actor: Actor) -> bool:
    """Revoke the client's key for good; False if it was already revoked."""
    revoked = ApiClient.objects.filter(pk=client.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), is_active=False
    )
    if revoked:
        client.refresh_from_db()
        record("api_client.revoked", actor=actor, obj=client,
               details={"client_name": client.name})
    return bool(revoked)


@transaction.atomic
def rotate_key(client: ApiClient, *, actor: Actor) -> str:
    """Replace the client's key; the old one stops working at once."""
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    key = _issue_key(client)
    client.save(update_fields=["key_prefix", "key_hash"])
    record("api_client.key_rotated", actor=actor, obj=client,
           details={"key_prefix": client.key_prefix})
    return key


@transaction.atomic
def rotate_webhook_secret(client: ApiClient, *, actor: Actor) -> str:
    """Replace the webhook signing secret; deliveries from now on are signed with the new one."""
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    secret = _issue_webhook_secret(client)
    client.save(update_fields=["webhook_secret"])
    record("api_client.webhook_secret_rotated", actor=actor, obj=client)
    return secret
