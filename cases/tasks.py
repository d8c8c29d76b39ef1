"""django-q2 tasks: send jobs to vendors, reconcile interrupted sends, sync statuses, fetch results.

Tasks take ids (never personal data or secrets: django-q2 stores arguments), re-read state, and
are safe to run twice. A job is marked `sending` and committed before its HTTP call, and the
vendor's ids are committed after it; a job found still `sending` is reconciled, never resent
blindly. One failing job never stops a pass.
"""

import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cases import services, vendors
from cases.audit import Actor, record
from cases.choices import (
    CASE_TERMINAL,
    ID5_NAMESPACES,
    JOB_FAILED,
    CaseStatus,
    JobStatus,
    ResultStatus,
    Vendor,
)
from cases.models import Identity, VendorJob
from cases.routing import ID5_IDENTITY_NAMESPACES
from cases.zipcheck import ResultFileRejected, inspect_zip
from connectors.adobe_hygiene import NamespaceIds
from connectors.adobe_privacy import MAX_USERS_PER_REQUEST, PrivacyJob, PrivacyUser, UserID
from connectors.base import ConnectorError, RateLimited, next_utc_midnight
from connectors.id5 import DeletionRequest

log = logging.getLogger(__name__)
WORKER = Actor.system("worker")
MAX_SEND_ATTEMPTS = 5
# A `sending` job older than this has lost its worker (django-q2 timeout plus a margin).
STALE_SENDING = dt.timedelta(seconds=settings.Q_CLUSTER["timeout"] + 30)
# Jobs of these cases wait: a hold pauses the work, an ended case needs nothing more.
HELD_BACK_CASES = (CaseStatus.NEW, CaseStatus.ON_HOLD, *CASE_TERMINAL)
# Result downloads per task queued by a sync pass, and how long one such task goes on starting
# new downloads (well inside the worker's timeout; what it leaves, the next pass queues again).
DOWNLOADS_PER_TASK = 20
DOWNLOAD_TASK_BUDGET = dt.timedelta(seconds=settings.Q_CLUSTER["timeout"] / 2)
# The one worker that waits out an Adobe send window (send_when_due): its claim in the shared
# cache, and how long it goes on waiting round after round (well inside the worker's timeout).
SEND_WAITER_KEY = "cases:adobe-send-waiter"
SEND_WAITER_BUDGET = settings.Q_CLUSTER["timeout"] / 2


@dataclass
class PassReport:
    """What one pass did, for the command's output and the task result."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] += n

    def __str__(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items())) or "nothing to do"


# --------------------------------------------------------------------------- sending


def send_pending_jobs(report: PassReport | None = None) -> str:
    """Reconcile interrupted sends, then send every pending job that is due."""
    report = report or PassReport()
    reconcile_sending_jobs(report)
    _send_due(report)
    return str(report)


def send_when_due() -> str:
    """The task a submission queues: a send pass, and, when Adobe jobs wait for their send
    window, one worker (whichever claims it first) stays to send them the moment it ends.

    Without it they would wait for the worker's scheduler, which looks every 30 s (the one-off
    schedule stays as the fallback if this worker is lost). The wait is a sleep of at most
    ADOBE_SEND_MAX_WAIT_SECONDS per round and SEND_WAITER_BUDGET in all; nothing is held
    meanwhile (no lock, no transaction), and a synchronous queue (tests) never waits.
    """
    report = PassReport()
    reconcile_sending_jobs(report)
    started = time.monotonic()
    while (wake_at := _send_due(report)) is not None:
        if settings.Q_CLUSTER.get("sync") or time.monotonic() - started > SEND_WAITER_BUDGET:
            break
        if not cache.add(SEND_WAITER_KEY, "waiting", timeout=SEND_WAITER_BUDGET * 2):
            report.add("another worker waits to send")
            break
        try:
            seconds = (wake_at - timezone.now()).total_seconds()
            time.sleep(min(max(seconds, 0.0), settings.ADOBE_SEND_MAX_WAIT_SECONDS))
        finally:
            cache.delete(SEND_WAITER_KEY)
    return str(report)


def _send_due(report: PassReport) -> dt.datetime | None:
    """Send every pending job that is due; when the Adobe jobs still waiting for their window
    should go (None if none wait)."""
    now = timezone.now()
    wake_at = None
    due = (
        VendorJob.objects.filter(status=JobStatus.PENDING)
        .exclude(case__status__in=HELD_BACK_CASES)
        .filter(Q(next_attempt_at__isnull=True, last_error="") | Q(next_attempt_at__lte=now))
        .select_related("case")
        .order_by("pk")
    )
    by_vendor: dict[str, list[VendorJob]] = defaultdict(list)
    for job in due:
        by_vendor[job.vendor].append(job)
    for vendor, jobs in by_vendor.items():
        reason = vendors.not_configured_reason(vendor)
        if reason:
            for job in jobs:
                services.update_job(job, last_error=reason, next_attempt_at=None)
            report.add(f"{vendor} not configured", len(jobs))
            continue
        if vendor == Vendor.ADOBE_PRIVACY:
            jobs, wake_at = _past_send_window(jobs, report, now)
        if jobs:
            SENDERS[vendor](jobs, report)
    return wake_at


def _past_send_window(jobs: list[VendorJob], report: PassReport,
                      now: dt.datetime) -> tuple[list[VendorJob], dt.datetime | None]:
    """The Adobe jobs to send now, and when the others should go (a send is scheduled then).

    Jobs that came in with no Adobe request within ADOBE_SEND_WINDOW_SECONDS before them (a
    lone case after a quiet spell, or a backlog) go at once. Jobs that follow a request that
    closely are a burst coming in: a request per (regulation, product set) goes when no new job
    has come for ADOBE_SEND_WINDOW_SECONDS (the burst is over), when its oldest first-time job
    has waited ADOBE_SEND_MAX_WAIT_SECONDS (a burst that goes on), or when 1000 users wait.
    Resends never wait."""
    window = dt.timedelta(seconds=settings.ADOBE_SEND_WINDOW_SECONDS)
    longest = dt.timedelta(seconds=settings.ADOBE_SEND_MAX_WAIT_SECONDS)
    fresh = [job.created_at for job in jobs if job.attempts == 0]
    if not window or not fresh:
        return jobs, None
    following = VendorJob.objects.filter(vendor=Vendor.ADOBE_PRIVACY,
                                         sending_started_at__gt=min(fresh) - window).exists()
    if not following:
        return jobs, None
    groups: dict[tuple[str, tuple[str, ...]], list[VendorJob]] = defaultdict(list)
    for job in jobs:
        groups[(job.case.regulation, tuple(job.products))].append(job)
    ready, wake_at = [], None
    for group in groups.values():
        arrived = [job.created_at for job in group if job.attempts == 0]
        due = min(min(arrived) + longest, max(arrived) + window) if arrived else now
        if len({job.case_id for job in group}) >= MAX_USERS_PER_REQUEST or due <= now:
            ready += group
            continue
        wake_at = min(wake_at or due, due)
        report.add("adobe_privacy waiting for the send window", len(group))
    if wake_at is not None:
        services.schedule_sending(wake_at)
    return ready, wake_at


def _claimed(jobs: list[VendorJob]) -> list[VendorJob]:
    claimed = [job for job in jobs if services.claim_job(job)]
    for job in claimed:
        job.refresh_from_db()
    return claimed


def _send_adobe_privacy(jobs: list[VendorJob], report: PassReport) -> None:
    """One request per (regulation, product set), at most 1000 users each (the connector)."""
    groups: dict[tuple[str, tuple[str, ...]], list[VendorJob]] = defaultdict(list)
    for job in jobs:
        groups[(job.case.regulation, tuple(job.products))].append(job)
    client = vendors.adobe_privacy()
    for (regulation, products), group in groups.items():
        claimed = _claimed(group)
        if not claimed:
            continue
        users = _adobe_users(claimed)
        try:
            outcomes = client.submit_jobs(users, include=products, regulation=regulation)
        except ConnectorError as exc:  # refused before any request, e.g. invalid input
            for job in claimed:
                _send_failed(job, exc, report)
            continue
        by_key = defaultdict(list)
        for job in claimed:
            by_key[job.case.reference].append(job)
        for outcome in outcomes:
            batch = [job for key in outcome.keys for job in by_key[key]]
            if outcome.error is not None:
                for job in batch:
                    _send_failed(job, outcome.error, report)
                continue
            created = {(c.key, c.action): c.job_id for c in outcome.result.jobs}
            for job in batch:
                job_id = created.get((job.case.reference, job.action))
                if job_id is None:  # Adobe did not say; the reconciler will look it up
                    _outcome_unknown(job, "Adobe's answer did not list this job.")
                    report.add("adobe_privacy unknown")
                    continue
                services.update_job(
                    job, status=JobStatus.SUBMITTED, vendor_status="submitted",
                    vendor_job_id=job_id, request_id=outcome.result.request_id or "",
                    products=list(outcome.include), submitted_at=timezone.now(),
                )
                report.add("adobe_privacy submitted")


def _adobe_users(jobs: list[VendorJob]) -> list[PrivacyUser]:
    actions: dict[int, list[str]] = defaultdict(list)
    cases = {}
    for job in jobs:
        actions[job.case_id].append(job.action)
        cases[job.case_id] = job.case
    identities = defaultdict(list)
    for identity in Identity.objects.filter(subject__case__in=cases).select_related("subject"):
        if identity.namespace not in ID5_NAMESPACES:
            identities[identity.subject.case_id].append(
                UserID(namespace=identity.namespace, value=identity.value, type=identity.type)
            )
    return [
        PrivacyUser(key=case.reference, actions=tuple(sorted(actions[pk])),
                    user_ids=tuple(identities[pk]))
        for pk, case in cases.items()
    ]


def _send_id5(jobs: list[VendorJob], report: PassReport) -> None:
    """One request per case, within ID5's daily limits as counted here (docs/vendors.md, ID5 limits:
    1 request per identifier and 3,000 per partner per UTC day, refused with a 403)."""
    client = vendors.id5()
    partner_limited: RateLimited | None = None
    for job in jobs:
        reason = partner_limited.message if partner_limited else _id5_local_limit(job)
        if reason:
            _defer_to_tomorrow(job, reason, report)
            continue
        if not services.claim_job(job):
            continue
        job.refresh_from_db()
        try:
            created = client.request_deletion(_id5_request(job))
        except ConnectorError as exc:
            if job.unknown_send_at and isinstance(exc, RateLimited) and exc.scope != "partner":
                _resend_refused(job, exc, report)
            else:
                _send_failed(job, exc, report)
            if isinstance(exc, RateLimited) and exc.scope == "partner":
                partner_limited = exc  # every other request today would be refused too
            continue
        if job.unknown_send_at:
            record("job.resent", actor=WORKER, case=job.case, obj=job,
                   details={"vendor": job.vendor, "outcome": "created"})
        services.update_job(
            job, status=JobStatus.SUBMITTED, vendor_status="CREATED",
            vendor_job_id=created.request_id, submitted_at=timezone.now(), unknown_send_at=None,
        )
        report.add("id5 submitted")


def _resend_refused(job: VendorJob, exc: RateLimited, report: PassReport) -> None:
    """ID5 refused the automatic resend with its per-identifier daily limit: it already holds a
    request for this identifier today, most likely the earlier send whose answer was lost. Only
    ID5 can confirm it (no list call, and that request's id never reached us)."""
    sent = job.unknown_send_at
    record("job.resent", actor=WORKER, case=job.case, obj=job,
           details={"vendor": job.vendor, "outcome": "refused", "code": exc.code})
    services.update_job(
        job, status=JobStatus.MANUAL, next_attempt_at=None, unknown_send_at=None,
        last_error=(
            f"The answer to the ID5 deletion request sent at {sent:%Y-%m-%d %H:%M} UTC was lost, "
            f"and ID5 refused the automatic resend on {timezone.now():%Y-%m-%d} with its limit of "
            f"one request per {exc.scope} per day (HTTP {exc.status} {exc.code}): it already "
            "holds a deletion request for this identifier, most likely the first one. ID5 cannot "
            "be searched: ask ID5 support to confirm it (partner id, case reference, the dates "
            "above), then mark the job done with their answer, or retry it to send a new request."
        ),
    )
    report.add("id5 resend refused")


def _id5_local_limit(job: VendorJob) -> str:
    """Why ID5 would refuse this job today, judged from what was sent since UTC midnight."""
    midnight = timezone.now().astimezone(dt.UTC).replace(hour=0, minute=0, second=0,
                                                         microsecond=0)
    sent_today = VendorJob.objects.filter(
        vendor=Vendor.ID5, action="delete", sending_started_at__gte=midnight
    ).exclude(pk=job.pk)
    if sent_today.count() >= settings.ID5_DAILY_PARTNER_LIMIT:
        return f"ID5 allows {settings.ID5_DAILY_PARTNER_LIMIT:,} requests per partner per day."
    indexes = Identity.objects.filter(
        subject__case=job.case_id, namespace__in=ID5_IDENTITY_NAMESPACES
    ).values("value_index")
    other = sent_today.filter(case__subject__identities__value_index__in=indexes).first()
    if other is not None:
        return (f"ID5 allows 1 request per identifier per day; {other.case.reference} sent one "
                "for the same identifier today.")
    return ""


def _defer_to_tomorrow(job: VendorJob, reason: str, report: PassReport) -> None:
    when = next_utc_midnight()
    services.update_job(job, next_attempt_at=when,
                        last_error=f"Deferred until {when:%Y-%m-%d %H:%M} UTC: {reason}")
    report.add("id5 deferred")


def _id5_request(job: VendorJob) -> DeletionRequest:
    values: dict[str, str] = {}
    for identity in Identity.objects.filter(subject__case=job.case_id):
        field_name = {"email": "email", "id5id": "id5id", "gaid": "maid", "idfa": "maid",
                      "partnerUid": "partner_uid"}.get(identity.namespace)
        if field_name and field_name not in values:
            values[field_name] = identity.value
    return DeletionRequest(jurisdiction=job.jurisdiction, **values)


def _send_hygiene(jobs: list[VendorJob], report: PassReport) -> None:
    client = vendors.adobe_hygiene()
    for job in _claimed(jobs):
        groups: dict[str, list[str]] = defaultdict(list)
        for identity in Identity.objects.filter(subject__case=job.case_id):
            if identity.namespace not in ID5_NAMESPACES:
                groups[identity.namespace].append(identity.value)
        try:
            order = client.create_work_order(
                dataset_id=settings.ADOBE_HYGIENE_DATASET_ID,
                identities=[NamespaceIds(ns, tuple(ids)) for ns, ids in groups.items()],
                display_name=f"Record delete for {job.case.reference}",
                description="Data minimisation record delete requested by a compliance officer.",
            )
        except ConnectorError as exc:
            _send_failed(job, exc, report)
            continue
        services.update_job(
            job, status=order.status, vendor_status=order.vendor_status,
            vendor_job_id=order.workorder_id, submitted_at=timezone.now(),
        )
        report.add("adobe_hygiene submitted")


SENDERS = {
    Vendor.ADOBE_PRIVACY: _send_adobe_privacy,
    Vendor.ID5: _send_id5,
    Vendor.ADOBE_HYGIENE: _send_hygiene,
}


def _backoff(attempts: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def _send_failed(job: VendorJob, exc: ConnectorError, report: PassReport) -> None:
    """Decide what a failed send means: defer, reconcile, retry later, or stop for an officer."""
    if isinstance(exc, RateLimited):
        when = exc.retry_at() or _backoff(job.attempts)
        services.update_job(
            job, status=JobStatus.PENDING, next_attempt_at=when,
            last_error=f"Deferred until {when:%Y-%m-%d %H:%M} UTC: {exc.message}",
        )
        report.add(f"{job.vendor} deferred")
    elif exc.maybe_sent:
        _outcome_unknown(job, exc.message)
        report.add(f"{job.vendor} unknown")
    elif exc.retryable and (exc.status is not None or job.attempts < MAX_SEND_ATTEMPTS):
        # A vendor that answered 5xx refused the request (nothing applied): it is retried for as
        # long as it takes, with backoff up to an hour. Only an unreachable vendor (no answer at
        # all, often a wrong URL) stops after MAX_SEND_ATTEMPTS for a person to look at.
        when = _backoff(job.attempts)
        services.update_job(
            job, status=JobStatus.PENDING, next_attempt_at=when,
            last_error=f"Will retry at {when:%Y-%m-%d %H:%M} UTC (attempt {job.attempts} "
                       f"refused, nothing applied): {exc.message}",
        )
        report.add(f"{job.vendor} retry later")
    else:
        services.update_job(job, status=JobStatus.ERROR, last_error=exc.message,
                            unknown_send_at=None)
        report.add(f"{job.vendor} error")


def _outcome_unknown(job: VendorJob, message: str) -> None:
    """The vendor may have the request: leave the job `sending` for the reconciler."""
    services.update_job(
        job, next_attempt_at=timezone.now(),
        last_error=f"Outcome unknown, will check with the vendor before resending: {message}",
    )


# --------------------------------------------------------------------------- reconciling


def reconcile_sending_jobs(report: PassReport) -> None:
    """Settle jobs left `sending` by a crash, a timeout or an unreadable answer."""
    now = timezone.now()
    # Due: an unknown outcome set to be checked now, or a send whose worker died mid-call (its
    # next_attempt_at is still None from the claim).
    stuck = (
        VendorJob.objects.filter(status=JobStatus.SENDING)
        .filter(Q(next_attempt_at__lte=now)
                | Q(next_attempt_at__isnull=True, sending_started_at__lt=now - STALE_SENDING))
        .select_related("case")
    )
    for job in stuck:
        if not _claim_reconcile(job, now):
            continue  # another worker is reconciling it, or it has moved on
        try:
            if job.vendor == Vendor.ADOBE_PRIVACY:
                _reconcile_adobe(job, report)
            elif job.vendor == Vendor.ID5:
                _reconcile_id5(job, report)
            else:
                _flag_for_officer(job, report)
        except ConnectorError as exc:
            services.update_job(job, next_attempt_at=_backoff(job.attempts),
                                last_error=f"Could not reconcile yet: {exc.message}")
            report.add("reconcile failed")


def _claim_reconcile(job: VendorJob, now: dt.datetime) -> bool:
    """Lease the job to this worker for STALE_SENDING, if it is still as this pass read it: with
    several workers, two passes must not both find 'not received' and both resend."""
    return VendorJob.objects.filter(
        pk=job.pk, status=JobStatus.SENDING, sending_started_at=job.sending_started_at,
        next_attempt_at=job.next_attempt_at,
    ).update(next_attempt_at=now + STALE_SENDING) == 1


def _reconcile_adobe(job: VendorJob, report: PassReport) -> None:
    """Find the job by its user key (the case reference) instead of sending it again."""
    started = timezone.localdate(job.sending_started_at or timezone.now())
    today = timezone.localdate()
    found = vendors.adobe_privacy().find_jobs(
        job.case.reference, regulation=job.case.regulation,
        from_date=started - dt.timedelta(days=1), to_date=max(today, started),
    )
    match = next((j for j in found if j.action == job.action), None)
    if match is not None:
        record("job.reconciled", actor=WORKER, case=job.case, obj=job,
               details={"vendor": job.vendor, "found": True})
        # The list carries ids and a status only; the next sync reads the job's details.
        services.update_job(
            job, status=JobStatus.SUBMITTED, vendor_status="", vendor_job_id=match.job_id,
            request_id=match.request_id or "", submitted_at=match.created_at or timezone.now(),
            next_attempt_at=None, last_error="",
        )
        report.add("reconciled found")
        return
    grace = dt.timedelta(seconds=settings.RECONCILE_GRACE_SECONDS)
    if job.sending_started_at and job.sending_started_at > timezone.now() - grace:
        services.update_job(job, next_attempt_at=timezone.now() + dt.timedelta(seconds=60))
        report.add("reconcile waiting")
        return
    record("job.reconciled", actor=WORKER, case=job.case, obj=job,
           details={"vendor": job.vendor, "found": False})
    # Adobe lists a job as soon as it is created; after the grace period it never arrived.
    services.update_job(job, status=JobStatus.PENDING, next_attempt_at=timezone.now(),
                        last_error="Not received by Adobe; sending again.")
    report.add("reconciled not found")


def _reconcile_id5(job: VendorJob, report: PassReport) -> None:
    """ID5 has no list call. Resend once, the next UTC day: ID5 takes one request per identifier
    per day, so a same-day resend would only be refused, while a next-day duplicate of a request
    that did arrive is a harmless second deletion with an id we can follow (docs/vendors.md, ID5
    limits). Only when the resend's outcome is unknown too does a person decide."""
    if job.unknown_send_at is not None:
        _flag_for_officer(job, report, detail=(
            f" The request sent at {job.unknown_send_at:%Y-%m-%d %H:%M} UTC and its automatic "
            "resend both went unanswered."))
        return
    sent = job.sending_started_at or timezone.now()
    when = next_utc_midnight(sent)
    record("job.reconciled", actor=WORKER, case=job.case, obj=job,
           details={"vendor": job.vendor, "found": None, "resend_at": when.isoformat()})
    services.update_job(
        job, status=JobStatus.PENDING, next_attempt_at=when, unknown_send_at=sent,
        last_error=(
            f"Outcome unknown: ID5 may have received the request sent at {sent:%Y-%m-%d %H:%M} "
            f"UTC and cannot be searched. Sending it once more on {when:%Y-%m-%d %H:%M} UTC, "
            "when ID5's one-request-per-identifier-per-day limit allows it; if it did arrive, "
            "the second deletion is harmless."
        ),
    )
    report.add("id5 resend next day")


def _flag_for_officer(job: VendorJob, report: PassReport, *, detail: str = "") -> None:
    """A vendor that cannot be searched (Data Hygiene; ID5 after its resend): a person decides."""
    services.update_job(
        job, status=JobStatus.MANUAL, next_attempt_at=None, unknown_send_at=None,
        last_error=(
            f"Sending to {job.get_vendor_display()} was interrupted and the vendor has no way to "
            f"look the request up.{detail} Check with the vendor: mark the job done if it "
            "arrived, or retry it (ID5 refuses a second request for the same identifier on the "
            "same day)."
        ),
    )
    report.add("flagged for officer")


# --------------------------------------------------------------------------- status sync


def sync_vendor_jobs(*, download_inline: bool = False) -> str:
    """One pass: send what is due, read every active job's status, fetch finished results.

    Reads are bulk: every active job with its case in one query, Adobe's list endpoint for
    statuses, each Adobe job read at most once (its details only when its status moved). Writes
    are one batch after the reads (changed fields only, one audit batch, one status refresh per
    case), and the pass's status reads are counted into one `vendor.calls` event.
    """
    report = PassReport()
    with vendors.summarised_polls():
        send_pending_jobs(report)
        batch = SyncBatch()
        active = VendorJob.objects.filter(
            status__in=[JobStatus.SUBMITTED, JobStatus.PROCESSING]
        ).exclude(vendor_job_id="").prefetch_related("case")
        by_vendor: dict[str, list[VendorJob]] = defaultdict(list)
        for job in active:
            by_vendor[job.vendor].append(job)
        if by_vendor[Vendor.ADOBE_PRIVACY]:
            _sync_adobe_privacy(by_vendor[Vendor.ADOBE_PRIVACY], report, batch)
        for vendor in (Vendor.ID5, Vendor.ADOBE_HYGIENE):
            if by_vendor[vendor]:
                client = vendors.id5() if vendor == Vendor.ID5 else vendors.adobe_hygiene()
                for job in by_vendor[vendor]:
                    _sync_one(job, lambda j, c=client: _read_other(j, c), report, batch)
        services.apply_job_changes(batch.updates, touched=batch.unchanged)
        _fetch_results(report, inline=download_inline, found=batch.found)
    return str(report)


@dataclass
class SyncBatch:
    """What a pass read, written in one go at its end: changes per job, ids of jobs read
    unchanged, and the Adobe jobs read in full (an inline download reuses their links)."""

    updates: list[tuple[VendorJob, dict]] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    found: dict[int, PrivacyJob] = field(default_factory=dict)


def _sync_one(job: VendorJob, read, report: PassReport, batch: SyncBatch) -> None:
    try:
        batch.updates.append((job, read(job)))
        report.add(f"{job.vendor} synced")
    except ConnectorError as exc:
        batch.updates.append((job, {"last_error": f"Status check failed: {exc.message}"}))
        report.add(f"{job.vendor} sync failed")
    except Exception:  # one broken job must not stop the pass; the log has the traceback
        log.exception("Syncing job %s failed", job.pk)
        batch.updates.append(
            (job, {"last_error": "Status check failed unexpectedly; see the worker log."}))
        report.add(f"{job.vendor} sync failed")


def _sync_adobe_privacy(jobs: list[VendorJob], report: PassReport, batch: SyncBatch) -> None:
    """Bulk status from the list endpoint (Adobe's advice); one read per job whose status moved,
    for its products' details."""
    client = vendors.adobe_privacy()
    by_regulation: dict[str, list[VendorJob]] = defaultdict(list)
    for job in jobs:
        by_regulation[job.case.regulation].append(job)
    for regulation, group in by_regulation.items():
        listed = _list_statuses(client, regulation, group)
        for job in group:
            summary = listed.get(job.vendor_job_id)
            if summary is not None and summary.vendor_status == job.vendor_status:
                batch.unchanged.append(job.pk)
                report.add("adobe_privacy unchanged")
                continue
            _sync_one(job, lambda j: _read_privacy_job(j, client, batch), report, batch)


def _read_privacy_job(job: VendorJob, client, batch: SyncBatch) -> dict:
    found = client.get_job(job.vendor_job_id)
    batch.found[job.pk] = found
    return _privacy_changes(job, found)


def _list_statuses(client, regulation: str, jobs: list[VendorJob]) -> dict[str, PrivacyJob]:
    """Job id -> listed job, or {} when the list cannot cover these jobs (window > 30 days)."""
    today = timezone.localdate()
    now = timezone.now()
    earliest = timezone.localdate(min(j.submitted_at or now for j in jobs))
    if (today - earliest).days > 29:
        return {}
    try:
        listing = client.list_jobs(regulation=regulation, from_date=earliest, to_date=today,
                                   size=1000)
    except ConnectorError as exc:
        log.warning("Listing Adobe jobs failed, reading them one by one: %s", exc.message)
        return {}
    return {job.job_id: job for job in listing.jobs}


def _privacy_changes(job: VendorJob, found: PrivacyJob) -> dict:
    failed = [p for p in found.products if p.status == "error" or (p.code or "").endswith("-400")]
    changes = {
        "status": found.status,
        "vendor_status": found.vendor_status,
        "vendor_job_id": found.job_id,
        "result_codes": list(found.result_codes),
        "product_statuses": {
            p.product: {"status": p.status, "code": p.code} for p in found.products
        },
        "last_synced_at": timezone.now(),
        # A job that ended badly gets its full reason (codes and next step) when written.
        "last_error": "" if found.status in JOB_FAILED else "; ".join(
            f"{p.product}: {p.code} {p.message or ''}".strip() for p in failed
        ),
    }
    finished = found.status in (JobStatus.COMPLETE, JobStatus.PARTIAL)
    if job.action == "access" and finished and job.result_status == ResultStatus.NONE:
        changes["result_status"] = (
            ResultStatus.PENDING if found.download_url else ResultStatus.NOT_OFFERED
        )
    return changes


def _read_other(job: VendorJob, client) -> dict:
    if job.vendor == Vendor.ID5:
        state = client.get_status(job.vendor_job_id)
        note = "ID5 deleted the data but could not email the reply." if state.email_failed else ""
        return {
            "status": state.status, "vendor_status": state.vendor_status,
            "result_codes": [state.processing_result] if state.processing_result else [],
            "last_synced_at": timezone.now(), "last_error": note,
        }
    order = client.get_work_order(job.vendor_job_id)
    failed = ", ".join(order.failed_products)
    return {
        "status": order.status, "vendor_status": order.vendor_status,
        "product_statuses": {p.product: {"status": p.status} for p in order.products},
        "last_synced_at": timezone.now(),
        "last_error": f"Failed: {failed}" if failed and order.status not in JOB_FAILED else "",
    }


def _fetch_results(report: PassReport, *, inline: bool, found: dict[int, PrivacyJob]) -> None:
    pending = VendorJob.objects.filter(result_status=ResultStatus.PENDING).order_by("pk")
    if not inline:
        # The tasks read the jobs themselves: links are pre-signed and expire, and task
        # arguments are stored, so a link is never passed along. A few jobs per task keeps the
        # queue's writes few and the workers' connections warm; several tasks share the work.
        ids = list(pending.values_list("pk", flat=True))
        with transaction.atomic():  # one commit for the queue's rows (ORM broker)
            for start in range(0, len(ids), DOWNLOADS_PER_TASK):
                services.queue_downloads(ids[start:start + DOWNLOADS_PER_TASK])
        report.add("results queued", len(ids))
        return
    waiting = list(pending.select_related("case"))
    fetched: list[services.FetchedResult] = []
    # One client and one downloader for the pass: their connections are kept between files.
    clients = (vendors.adobe_privacy(), vendors.downloader()) if waiting else None
    try:
        for job in waiting:
            # This pass just read the job: its download link is fresh, no second read.
            outcome = _fetch_file(job, found.get(job.pk), clients)
            if isinstance(outcome, services.FetchedResult):
                fetched.append(outcome)
            report.add("results fetched")
        services.attach_results(fetched)
    finally:
        for item in fetched:
            item.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- results


def download_result(job_id: int) -> str:
    """Stream a finished access job's ZIP through the guarded downloader, check it, attach it."""
    job = VendorJob.objects.select_related("case").filter(pk=job_id).first()
    if job is None or job.result_status != ResultStatus.PENDING:
        return "nothing to do"
    return _download_one(job, _download_clients())


def download_results(job_ids: list[int]) -> str:
    """`download_result` for a few jobs, one after the other over the same connections.

    Each job is attached (or marked) as soon as its file is checked, so a worker lost halfway
    loses nothing done, and no new download starts after DOWNLOAD_TASK_BUDGET: the jobs still
    pending are queued again by the next sync pass.
    """
    report, clients = PassReport(), None
    deadline = time.monotonic() + DOWNLOAD_TASK_BUDGET.total_seconds()
    jobs = list(VendorJob.objects.select_related("case").filter(
        pk__in=job_ids, result_status=ResultStatus.PENDING).order_by("pk"))
    for index, job in enumerate(jobs):
        if index and time.monotonic() > deadline:  # the first always goes: progress is made
            report.add("left for the next pass", len(jobs) - index)
            break
        clients = clients or _download_clients()
        report.add(_download_one(job, clients))
    return str(report)


def _download_one(job: VendorJob, clients: tuple) -> str:
    outcome = _fetch_file(job, None, clients)
    if isinstance(outcome, str):
        return outcome
    try:
        return "attached" if services.attach_results([outcome]) else "nothing to do"
    finally:
        outcome.path.unlink(missing_ok=True)


def _fetch_file(job: VendorJob, found: PrivacyJob | None,
                clients: tuple | None) -> "services.FetchedResult | str":
    """Download and check the job's ZIP (reading the job first unless `found` is given); the
    checked file to attach, or what happened instead, already written to the job."""
    incoming = Path(settings.MEDIA_ROOT) / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / f"job-{job.pk}-{uuid.uuid4().hex}.zip"
    outcome = _download_checked(job, path, found, *(clients or _download_clients()))
    if isinstance(outcome, str):
        path.unlink(missing_ok=True)
    return outcome


def _download_clients() -> tuple:
    return vendors.adobe_privacy(), vendors.downloader()


def _download_checked(job: VendorJob, path: Path, found: PrivacyJob | None, client,
                      downloader) -> "services.FetchedResult | str":
    try:
        found = found or client.get_job(job.vendor_job_id)
        if not found.download_url:
            services.update_job(job, result_status=ResultStatus.NOT_OFFERED)
            return "no file offered"
        download = downloader.download(
            found.download_url, path, auth_headers=client.auth_headers()
        )
        entries = inspect_zip(path)
    except ResultFileRejected as exc:
        services.update_job(job, result_status=ResultStatus.REJECTED, last_error=str(exc))
        return "rejected"
    except ConnectorError as exc:
        if exc.retryable:  # the next sync pass queues the download again
            services.update_job(job, last_error=f"Result download failed: {exc.message}")
            return "will retry"
        services.update_job(job, result_status=ResultStatus.REJECTED,
                            last_error=f"Result download refused: {exc.message}")
        return "refused"
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return services.FetchedResult(
        job, path, name=f"{job.case.reference}-{job.vendor}-{job.action}.zip",
        size=download.size, sha256=download.sha256, entries=[e.as_dict() for e in entries],
    )


# --------------------------------------------------------------------------- messages


def send_message(message_id: int) -> str:
    """Send one message to a data subject (queued on commit by `messaging.queue_message`)."""
    from cases import messaging

    return messaging.deliver(message_id)


def send_due_messages() -> str:
    """The schedule's pass: retries that are due, and anything a lost task left queued."""
    from cases import messaging

    return messaging.deliver_due()
