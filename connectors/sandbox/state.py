"""All the sandbox remembers, behind one lock: tokens, jobs, work orders, ID5 requests, usage."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .catalog import Product
from .config import SandboxConfig
from .faults import FaultBook
from .progress import Clock, Progress
from .recorder import Recorder


@dataclass
class Token:
    client_id: str
    expires_at: float


@dataclass
class PrivacyJob:
    """One Privacy Service job: one (user, action) of a POST /jobs."""

    job_id: str
    request_id: str
    org_id: str
    user_key: str
    action: str
    user_ids: list[dict[str, Any]]
    products: list[Product]
    regulation: str
    submitted_by: str
    outcome: str
    progress: Progress


@dataclass
class Workorder:
    """One Data Hygiene record-delete work order."""

    workorder_id: str
    bundle_id: str
    org_id: str
    sandbox_name: str
    action: str
    dataset_id: str
    display_name: str
    description: str
    target_services: list[str]
    operation_count: int
    identity_count: int
    created_by: str
    outcome: str
    progress: Progress


@dataclass
class Id5Request:
    """One ID5 deletion request."""

    request_id: str
    partner_id: int
    jurisdiction: str
    identifiers: dict[str, str]
    reply_to: str | None
    outcome: str
    progress: Progress


@dataclass
class SandboxState:
    """Shared by every request thread; hold ``lock`` while reading or changing it."""

    config: SandboxConfig
    lock: threading.RLock = field(default_factory=threading.RLock)
    clock: Clock = field(default_factory=Clock)
    recorder: Recorder = field(default_factory=Recorder)
    faults: FaultBook = field(default_factory=FaultBook)
    tokens: dict[str, Token] = field(default_factory=dict)
    privacy_jobs: dict[str, PrivacyJob] = field(default_factory=dict)
    workorders: dict[str, Workorder] = field(default_factory=dict)
    id5_requests: dict[str, Id5Request] = field(default_factory=dict)
    # "day|kind|value" → successful ID5 requests; "day|partner" likewise.
    id5_usage: Counter[str] = field(default_factory=Counter)
    # "day|<date>" / "month|<yyyy-mm>" → identities submitted to Data Hygiene.
    hygiene_usage: Counter[str] = field(default_factory=Counter)
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def __post_init__(self) -> None:
        self.recorder = Recorder(self.config.max_recorded_requests)

    def now(self) -> float:
        return self.clock.now()

    def refresh(self, progress: Progress) -> None:
        progress.refresh(self.clock.now(), self.config.speed)

    def sign(self, value: str) -> str:
        """Signature for result download URLs (they stand in for pre-signed blob URLs)."""
        return hmac.new(self.signing_key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def reset(self) -> None:
        """Forget everything: jobs, tokens, usage, counters, faults, clock offset."""
        with self.lock:
            self.tokens.clear()
            self.privacy_jobs.clear()
            self.workorders.clear()
            self.id5_requests.clear()
            self.id5_usage.clear()
            self.hygiene_usage.clear()
            self.clock.offset = 0.0
            self.faults.clear()
            self.recorder.clear()

    def all_progress(self) -> list[Progress]:
        jobs: list[Any] = [
            *self.privacy_jobs.values(),
            *self.workorders.values(),
            *self.id5_requests.values(),
        ]
        return [job.progress for job in jobs]
