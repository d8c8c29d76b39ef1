"""Sandbox settings: credentials it accepts, limits it enforces, and how fast jobs advance."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .http import REDACTED

# `speed` values: seconds of (virtual) time per status step; 0 = instant; None = manual.
MANUAL = None


@dataclass
class SandboxConfig:
    """Everything a test or the management command may want to change.

    speed: seconds per status step (> 0, e.g. 5 for the demo); ``0`` = instant (creation
    answers show the first status, e.g. Hygiene ``received``; the first read afterwards shows
    the final one); ``None`` = manual (jobs move only through ``POST /_sandbox/advance``).
    Time is the sandbox's virtual clock, which ``advance`` can also move forward (token expiry
    and ID5 "per UTC day" limits follow it too).
    """

    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"  # noqa: S105 (public test default)
    org_id: str = "SANDBOX@AdobeOrg"
    id5_partner_id: int = 173
    id5_token: str = "sandbox-id5-token"  # noqa: S105 (public test default)
    token_expires_in: int = 86399
    speed: float | None = 0.0
    id5_identifier_daily_limit: int = 1
    id5_partner_daily_limit: int = 3000
    privacy_max_users: int = 1000
    hygiene_max_identities: int = 100_000
    hygiene_daily_quota: int = 1_000_000
    hygiene_monthly_quota: int = 2_000_000
    max_fault_delay: float = 30.0
    max_recorded_requests: int = 10_000

    def update(self, changes: dict[str, Any]) -> None:
        """Apply known keys from a dict (unknown keys raise ValueError)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        for key, value in changes.items():
            setattr(self, key, value)

    def public(self) -> dict[str, Any]:
        """The settings without secrets (for GET /_sandbox/state)."""
        data = asdict(self)
        data["client_secret"] = data["id5_token"] = REDACTED
        return data
