"""Builds connectors from settings, and says which vendors are configured.

Connectors never read settings or touch the database; this module is where the workflow gives
them their configuration, a shared token cache, and an audit hook for every call attempt.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from cases.audit import Actor, Pending, record_many
from cases.choices import Vendor
from cases.monitoring import count_vendor_calls
from connectors.adobe_hygiene import AdobeHygieneClient
from connectors.adobe_ims import AdobeCredentials, AdobeTokenProvider
from connectors.adobe_privacy import AdobePrivacyClient
from connectors.base import Attempt
from connectors.download import DownloadPolicy, ResultDownloader
from connectors.id5 import ID5Client, ID5Config

_ADOBE_SETTINGS = ("ADOBE_CLIENT_ID", "ADOBE_CLIENT_SECRET", "ADOBE_ORG_ID")
_REQUIRED = {
    Vendor.ADOBE_PRIVACY: _ADOBE_SETTINGS,
    Vendor.ADOBE_HYGIENE: (*_ADOBE_SETTINGS, "ADOBE_SANDBOX_NAME", "ADOBE_HYGIENE_DATASET_ID"),
    Vendor.ID5: ("ID5_PARTNER_ID", "ID5_TOKEN"),
}


def not_configured_reason(vendor: str) -> str:
    """Empty when `vendor` can be called; otherwise what the operator must set."""
    missing = [name for name in _REQUIRED.get(vendor, ()) if not getattr(settings, name)]
    if not missing:
        return ""
    return f"{Vendor(vendor).label} is not configured: set {', '.join(missing)}."


# Status reads a sync pass makes by the hundred: inside `summarised_polls` they are counted into
# one `vendor.calls` event per pass instead of one chained event each. Every call that sends or
# fetches something (creates, deletions, tokens, result downloads) keeps its own event.
SUMMARISED_OPERATIONS = frozenset({"get_job", "list_jobs", "get_status", "get_work_order"})
# Reads kept as events of their own, written in the pass's batch at its end.
BATCHED_OPERATIONS = frozenset({"download_result"})
_summary: ContextVar["CallSummary | None"] = ContextVar("vendor_call_summary", default=None)


@dataclass
class CallSummary:
    """Status reads of one pass, by vendor, operation and outcome: count and durations."""

    rows: dict[tuple, dict[str, int]] = field(default_factory=dict)
    kept: list[Pending] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)  # for the /metrics counters

    def add(self, attempt: Attempt) -> None:
        key = (attempt.vendor, attempt.operation, attempt.http_status, attempt.error_class)
        row = self.rows.setdefault(key, {"count": 0, "total_ms": 0, "max_ms": 0})
        row["count"] += 1
        row["total_ms"] += attempt.duration_ms
        row["max_ms"] = max(row["max_ms"], attempt.duration_ms)

    def record(self) -> None:
        events = list(self.kept)
        if self.rows:
            events.append(self._summary_event())
        with transaction.atomic():  # counters and events in one commit
            count_vendor_calls(self.attempts)
            record_many(events)

    def _summary_event(self) -> Pending:
        calls = [
            {"vendor": vendor, "operation": operation, "http_status": status,
             "error_class": error, **row}
            for (vendor, operation, status, error), row in sorted(
                self.rows.items(), key=lambda item: tuple(str(part) for part in item[0]))
        ]
        return Pending("vendor.calls", Actor.system("worker"),
                       details={"calls": calls, "count": sum(c["count"] for c in calls)})


@contextmanager
def summarised_polls() -> Iterator[CallSummary]:
    """Count this block's status reads into one `vendor.calls` event, written at its end."""
    summary = CallSummary()
    token = _summary.set(summary)
    try:
        yield summary
    finally:
        _summary.reset(token)
        summary.record()


def audit_attempt(attempt: Attempt) -> None:
    """Every vendor call attempt goes into the trail (no URL, body or identity value) and into
    the /metrics counters (a pass's calls are counted together at its end)."""
    summary = _summary.get()
    if summary is not None:
        summary.attempts.append(attempt)
    else:
        count_vendor_calls([attempt])
    if summary is not None and attempt.operation in SUMMARISED_OPERATIONS:
        summary.add(attempt)
    elif summary is not None and attempt.operation in BATCHED_OPERATIONS:
        summary.kept.append(_call_event(attempt))
    else:
        record_many([_call_event(attempt)])


def _call_event(attempt: Attempt) -> Pending:
    return Pending("vendor.call", Actor.system("worker"), details={
        "vendor": attempt.vendor,
        "operation": attempt.operation,
        "http_status": attempt.http_status,
        "duration_ms": attempt.duration_ms,
        "error_class": attempt.error_class,
    })


def _timeout() -> tuple[float, float]:
    return (5.0, float(settings.VENDOR_READ_TIMEOUT))


def _tokens() -> AdobeTokenProvider:
    credentials = AdobeCredentials(
        client_id=settings.ADOBE_CLIENT_ID,
        client_secret=settings.ADOBE_CLIENT_SECRET,
        org_id=settings.ADOBE_ORG_ID,
        scopes=settings.ADOBE_SCOPES,
        token_url=settings.ADOBE_IMS_TOKEN_URL,
    )
    provider = AdobeTokenProvider(credentials, cache, on_attempt=audit_attempt)
    provider.timeout = _timeout()
    return provider


def adobe_privacy() -> AdobePrivacyClient:
    client = AdobePrivacyClient(
        _tokens(), base_url=settings.ADOBE_PRIVACY_BASE_URL, on_attempt=audit_attempt
    )
    client.timeout = _timeout()
    return client


def adobe_hygiene() -> AdobeHygieneClient:
    client = AdobeHygieneClient(
        _tokens(),
        sandbox_name=settings.ADOBE_SANDBOX_NAME,
        base_url=settings.ADOBE_HYGIENE_BASE_URL,
        on_attempt=audit_attempt,
    )
    client.timeout = _timeout()
    return client


def id5() -> ID5Client:
    config = ID5Config(
        partner_id=settings.ID5_PARTNER_ID, token=settings.ID5_TOKEN, base_url=settings.ID5_BASE_URL
    )
    client = ID5Client(config, on_attempt=audit_attempt)
    client.timeout = _timeout()
    return client


def downloader() -> ResultDownloader:
    """Result downloads: only from RESULT_DOWNLOAD_HOSTS; the Adobe token only to Adobe's API."""
    hosts = settings.RESULT_DOWNLOAD_HOSTS
    adobe_host = urlsplit(settings.ADOBE_PRIVACY_BASE_URL).netloc.lower()
    policy = DownloadPolicy(
        allowed_hosts=frozenset(hosts),
        # Hosts the operator listed may be private (the vendor sandbox on loopback, a mirror).
        private_hosts=frozenset(hosts),
        token_hosts=frozenset({adobe_host}) & frozenset(h.lower() for h in hosts),
        max_bytes=settings.RESULT_MAX_BYTES,
    )
    return ResultDownloader(policy, on_attempt=audit_attempt)
