"""The case journey against the vendor sandbox over real HTTP on loopback.

Submit → processing → complete → ZIP attached; crashes and every sandbox fault end in a completed
case or a visible `action_required`, and the sandbox's counters prove nothing was sent twice.
"""

import datetime as dt

import pytest
import requests
from django.utils import timezone

from cases import services, tasks
from cases.choices import CaseStatus, JobStatus, ResultStatus, Vendor
from cases.models import AuditEvent, Case, ResultFile, VendorJob
from connectors.adobe_privacy import AdobePrivacyClient
from connectors.base import next_utc_midnight
from connectors.id5 import ID5Client

ADA = [
    {"namespace": "email", "value": "ada.lovelace@example.org"},
    {"namespace": "ecid", "value": "44363657679975868102109072127"},
    {"namespace": "id5id", "value": "ID5-7d1f3c2a9b8e4f60"},
]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def control(server, path: str, body: dict | None = None) -> dict:
    method = requests.post if body is not None else requests.get
    response = method(f"{server.url}/_sandbox/{path}", json=body, timeout=5)
    response.raise_for_status()
    return response.json()


def counter(server, name: str) -> int:
    return control(server, "counters")["counters"].get(name, 0)


def fault(server, **spec) -> None:
    control(server, "faults", spec)


@pytest.fixture
def submitted(make_case, system_actor, vendor_sandbox):
    """Make a verified case and submit it; returns a function so tests can set faults first."""

    def submit(**overrides):
        overrides.setdefault("identities", ADA)
        case = services.verify_identity(make_case(**overrides), actor=system_actor,
                                        method="account_login")
        services.submit_case(case, actor=system_actor)
        tasks.send_pending_jobs()
        case.refresh_from_db()
        return case

    return submit


def job(case, vendor=Vendor.ADOBE_PRIVACY, action="access") -> VendorJob:
    return VendorJob.objects.get(case=case, vendor=vendor, action=action)


def settle(passes: int = 3) -> None:
    """Run sync passes, moving every retry and reconcile time into the past between passes."""
    for _ in range(passes):
        VendorJob.objects.exclude(next_attempt_at=None).update(
            next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
        )
        tasks.sync_vendor_jobs(download_inline=True)


def test_access_and_delete_journey_attaches_the_zip(submitted, vendor_sandbox, system_actor):
    case = submitted()
    assert job(case).status == JobStatus.SUBMITTED
    assert case.status == CaseStatus.ACTION_REQUIRED  # the ID5 access request is manual

    settle()
    access = job(case)
    assert access.status == JobStatus.COMPLETE and access.result_status == ResultStatus.ATTACHED
    assert job(case, action="delete").status == JobStatus.COMPLETE
    assert job(case, Vendor.ID5, "delete").status == JobStatus.COMPLETE

    result = ResultFile.objects.get(case=case)
    assert result.size > 0 and len(result.sha256) == 64
    assert {e["name"].split("/")[0] for e in result.entries} >= {"Analytics"}
    assert AuditEvent.objects.filter(action="result.attached", case=case).exists()

    services.complete_manual_job(
        job(case, Vendor.ID5, "access"), actor=system_actor, note="ID5 answered by email"
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.COMPLETED
    assert counter(vendor_sandbox, "adobe_privacy.create_jobs") == 1
    assert counter(vendor_sandbox, "id5.create_deletion") == 1


def test_cases_of_one_regulation_share_one_adobe_request(
    make_case, system_actor, vendor_sandbox
):
    for n in range(3):
        case = make_case(identities=[{"namespace": "email", "value": f"p{n}@example.org"}],
                         actions=["delete"], vendors=["adobe_privacy"])
        services.submit_case(
            services.verify_identity(case, actor=system_actor, method="account_login"),
            actor=system_actor)
    tasks.send_pending_jobs()
    assert counter(vendor_sandbox, "adobe_privacy.create_jobs") == 1
    assert VendorJob.objects.filter(status=JobStatus.SUBMITTED).count() == 3
    assert VendorJob.objects.values("request_id").distinct().count() == 1


def test_id5_does_not_apply_outside_gdpr_and_ccpa(submitted, vendor_sandbox):
    case = submitted(regulation="lgpd_bra", actions=["delete"])
    id5_job = job(case, Vendor.ID5, "delete")
    assert id5_job.status == JobStatus.NOT_APPLICABLE
    assert "GDPR or CCPA" in id5_job.last_error
    settle()
    case.refresh_from_db()
    assert case.status == CaseStatus.COMPLETED
    assert counter(vendor_sandbox, "id5.create_deletion") == 0


def test_cjm_delete_gains_upstream_products_and_completes(submitted, vendor_sandbox):
    case = submitted(actions=["delete"], adobe_products=["CJM"], vendors=["adobe_privacy"])
    delete = job(case, action="delete")
    assert set(delete.products) >= {"CJM", "profileService", "AdobeCloudPlatform", "identity"}
    event = AuditEvent.objects.get(action="job.created", object_id=str(delete.pk))
    assert event.details["products_added_for_cjm"]
    settle()
    case.refresh_from_db()
    assert case.status == CaseStatus.COMPLETED


def test_unconfigured_vendor_is_reported_not_skipped(submitted, settings, vendor_sandbox):
    settings.ID5_TOKEN = ""
    case = submitted(actions=["delete"])
    id5_job = job(case, Vendor.ID5, "delete")
    assert id5_job.status == JobStatus.PENDING
    assert "ID5_TOKEN" in id5_job.last_error
    settle()
    case.refresh_from_db()
    assert case.status == CaseStatus.ACTION_REQUIRED
    assert "not configured" in case.status_reason
    assert counter(vendor_sandbox, "id5.create_deletion") == 0


def test_crash_between_vendor_call_and_commit_reconciles_without_resending(
    submitted, vendor_sandbox, monkeypatch
):
    real_submit = AdobePrivacyClient.submit_jobs

    def submit_then_die(self, *args, **kwargs):
        real_submit(self, *args, **kwargs)
        raise KeyboardInterrupt("worker killed after the vendor answered")

    monkeypatch.setattr(AdobePrivacyClient, "submit_jobs", submit_then_die)
    with pytest.raises(KeyboardInterrupt):
        submitted(vendors=["adobe_privacy"])
    monkeypatch.undo()

    stuck = VendorJob.objects.get(action="access")
    assert stuck.status == JobStatus.SENDING  # committed before the call, outcome unknown
    VendorJob.objects.update(sending_started_at=timezone.now() - dt.timedelta(hours=1))
    settle()

    stuck.refresh_from_db()
    assert stuck.status == JobStatus.COMPLETE and stuck.vendor_job_id
    assert stuck.result_status == ResultStatus.ATTACHED
    assert AuditEvent.objects.filter(action="job.reconciled", details__found=True).exists()
    assert counter(vendor_sandbox, "adobe_privacy.create_jobs") == 1


def _id5_crash(submitted, monkeypatch):
    """Send an ID5 deletion and kill the worker after ID5 took it, before its id was stored."""
    real = ID5Client.request_deletion

    def send_then_die(self, request):
        real(self, request)
        raise KeyboardInterrupt("worker killed")

    monkeypatch.setattr(ID5Client, "request_deletion", send_then_die)
    with pytest.raises(KeyboardInterrupt):
        submitted(actions=["delete"], vendors=["id5"])
    monkeypatch.undo()
    VendorJob.objects.update(sending_started_at=timezone.now() - dt.timedelta(hours=1))
    tasks.send_pending_jobs()  # reconciles the orphaned send
    return VendorJob.objects.get(vendor=Vendor.ID5)


def _next_utc_day(server) -> None:
    """Let the UTC day turn, for Privacy Desk's schedule and for the sandbox's ID5 limits."""
    server.advance(seconds=24 * 3600)
    VendorJob.objects.exclude(next_attempt_at=None).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1))


def test_id5_crash_is_resent_once_the_next_utc_day_not_flagged(
    submitted, vendor_sandbox, monkeypatch
):
    waiting = _id5_crash(submitted, monkeypatch)
    assert waiting.status == JobStatus.PENDING
    assert waiting.next_attempt_at == next_utc_midnight(waiting.unknown_send_at)
    assert "Sending it once more on" in waiting.last_error
    assert waiting.case.__class__.objects.get(pk=waiting.case_id).status == CaseStatus.IN_PROGRESS
    tasks.send_pending_jobs()
    assert counter(vendor_sandbox, "id5.create_deletion") == 1  # not before the day turns

    _next_utc_day(vendor_sandbox)
    settle()
    done = VendorJob.objects.get(vendor=Vendor.ID5)
    assert done.status == JobStatus.COMPLETE and done.unknown_send_at is None
    assert done.case.__class__.objects.get(pk=done.case_id).status == CaseStatus.COMPLETED
    assert AuditEvent.objects.filter(action="job.resent", details__outcome="created").exists()
    # The first request did arrive: the next-day resend made a second, harmless one.
    assert counter(vendor_sandbox, "id5.create_deletion") == 2


def test_id5_resend_refused_per_identifier_goes_to_an_officer_with_the_evidence(
    submitted, vendor_sandbox, monkeypatch
):
    _id5_crash(submitted, monkeypatch)
    # ID5 counted the first request on the day of the resend (e.g. sent just before midnight).
    VendorJob.objects.update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    tasks.send_pending_jobs()

    flagged = VendorJob.objects.get(vendor=Vendor.ID5)
    assert flagged.status == JobStatus.MANUAL and flagged.unknown_send_at is None
    assert "refused the automatic resend" in flagged.last_error
    assert "one request per email per day (HTTP 403 api_rate_limit_error)" in flagged.last_error
    assert "most likely the first one" in flagged.last_error
    case = flagged.case.__class__.objects.get(pk=flagged.case_id)
    assert case.status == CaseStatus.ACTION_REQUIRED and "refused the automatic" in (
        case.status_reason)
    assert len(control(vendor_sandbox, "state")["id5_requests"]) == 1  # no second request


@pytest.mark.parametrize(
    "kind", ["5xx", "429", "429_no_retry_after", "timeout", "drop", "drop_after", "malformed"]
)
def test_adobe_submission_faults_end_complete_with_one_job_per_action(
    submitted, vendor_sandbox, settings, kind
):
    settings.VENDOR_READ_TIMEOUT = 1
    fault(vendor_sandbox, vendor="adobe_privacy", operation="create_jobs", kind=kind,
          delay=2 if kind == "timeout" else 0)
    case = submitted(actions=["access"], vendors=["adobe_privacy"])
    access = job(case)
    assert access.status in (JobStatus.PENDING, JobStatus.SENDING, JobStatus.SUBMITTED)
    if access.status != JobStatus.SUBMITTED:
        assert access.last_error  # the reason is visible, never a silent wait

    settle(4)
    access.refresh_from_db()
    case.refresh_from_db()
    assert access.status == JobStatus.COMPLETE, access.last_error
    assert case.status == CaseStatus.COMPLETED
    jobs_at_adobe = control(vendor_sandbox, "state")["privacy_jobs"]
    assert len(jobs_at_adobe) == 1


@pytest.mark.parametrize("kind", ["5xx", "429", "429_no_retry_after"])
def test_id5_refusal_is_retried_with_backoff_never_handed_to_an_officer(
    submitted, vendor_sandbox, kind
):
    fault(vendor_sandbox, vendor="id5", operation="create_deletion", kind=kind)
    case = submitted(actions=["delete"], vendors=["id5"])
    waiting = job(case, Vendor.ID5, "delete")
    assert waiting.status == JobStatus.PENDING  # ID5 answered: nothing applied, nothing unknown
    assert waiting.next_attempt_at > timezone.now() and waiting.unknown_send_at is None
    assert waiting.last_error.startswith(("Will retry at", "Deferred until"))
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS

    settle()
    assert job(case, Vendor.ID5, "delete").status == JobStatus.COMPLETE
    assert not AuditEvent.objects.filter(action="job.reconciled").exists()
    assert counter(vendor_sandbox, "id5.create_deletion") == 2
    assert len(control(vendor_sandbox, "state")["id5_requests"]) == 1


def test_id5_outage_keeps_retrying_past_the_attempt_limit(submitted, vendor_sandbox):
    fault(vendor_sandbox, vendor="id5", operation="create_deletion", kind="5xx", count=-1)
    case = submitted(actions=["delete"], vendors=["id5"])
    settle(tasks.MAX_SEND_ATTEMPTS + 2)
    waiting = job(case, Vendor.ID5, "delete")
    case.refresh_from_db()
    assert waiting.attempts == tasks.MAX_SEND_ATTEMPTS + 3
    assert (waiting.status, case.status) == (JobStatus.PENDING, CaseStatus.IN_PROGRESS)
    assert waiting.next_attempt_at - timezone.now() > dt.timedelta(minutes=30)  # backed off

    vendor_sandbox.clear_faults()
    settle(1)
    assert job(case, Vendor.ID5, "delete").status == JobStatus.COMPLETE


@pytest.mark.parametrize(("kind", "applied"), [("timeout", False), ("drop", False),
                                               ("drop_after", True), ("malformed", True)])
def test_id5_unknown_outcome_is_resent_once_the_next_utc_day(
    submitted, vendor_sandbox, settings, kind, applied
):
    settings.VENDOR_READ_TIMEOUT = 1
    fault(vendor_sandbox, vendor="id5", operation="create_deletion", kind=kind,
          delay=2 if kind == "timeout" else 0)
    case = submitted(actions=["delete"], vendors=["id5"])
    assert job(case, Vendor.ID5, "delete").status == JobStatus.SENDING
    tasks.send_pending_jobs()  # reconciles: ID5 cannot be searched

    waiting = job(case, Vendor.ID5, "delete")
    assert waiting.status == JobStatus.PENDING and waiting.unknown_send_at
    assert waiting.next_attempt_at == next_utc_midnight(waiting.unknown_send_at)
    assert "Outcome unknown" in waiting.last_error
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS  # not handed to an officer

    _next_utc_day(vendor_sandbox)
    settle()
    case.refresh_from_db()
    assert job(case, Vendor.ID5, "delete").status == JobStatus.COMPLETE
    assert case.status == CaseStatus.COMPLETED
    assert counter(vendor_sandbox, "id5.create_deletion") == 2
    # One request at ID5, or a harmless second one on the next day if the first had arrived.
    assert len(control(vendor_sandbox, "state")["id5_requests"]) == 1 + applied


def test_id5_resend_without_an_answer_either_goes_to_an_officer(
    submitted, vendor_sandbox, settings
):
    fault(vendor_sandbox, vendor="id5", operation="create_deletion", kind="drop", count=2)
    case = submitted(actions=["delete"], vendors=["id5"])
    tasks.send_pending_jobs()
    _next_utc_day(vendor_sandbox)
    tasks.send_pending_jobs()  # the resend: dropped too
    tasks.send_pending_jobs()  # reconciles it

    flagged = job(case, Vendor.ID5, "delete")
    case.refresh_from_db()
    assert flagged.status == JobStatus.MANUAL
    assert "and its automatic resend both went unanswered" in flagged.last_error
    assert case.status == CaseStatus.ACTION_REQUIRED
    assert counter(vendor_sandbox, "id5.create_deletion") == 2


def test_adobe_5xx_is_retried_not_reconciled(submitted, vendor_sandbox):
    fault(vendor_sandbox, vendor="adobe_privacy", operation="create_jobs", kind="5xx")
    case = submitted(actions=["access"], vendors=["adobe_privacy"])
    waiting = job(case)
    assert waiting.status == JobStatus.PENDING and waiting.next_attempt_at > timezone.now()
    assert "Will retry at" in waiting.last_error and "HTTP 503" in waiting.last_error

    settle()
    assert job(case).status == JobStatus.COMPLETE
    assert not AuditEvent.objects.filter(action="job.reconciled").exists()
    assert len(control(vendor_sandbox, "state")["privacy_jobs"]) == 1


def test_id5_daily_limit_defers_the_second_request_visibly(submitted, vendor_sandbox):
    submitted(actions=["delete"], vendors=["id5"])
    second = submitted(actions=["delete"], vendors=["id5"])
    deferred = job(second, Vendor.ID5, "delete")
    assert deferred.status == JobStatus.PENDING
    assert deferred.next_attempt_at > timezone.now()
    assert "Deferred until" in deferred.last_error and "per identifier" in deferred.last_error
    second.refresh_from_db()
    assert second.status == CaseStatus.IN_PROGRESS  # waiting, not failed
    assert counter(vendor_sandbox, "id5.create_deletion") == 1  # counted here, not sent


def _id5_case(make_case, system_actor, n: int):
    case = make_case(actions=["delete"], vendors=["id5"],
                     identities=[{"namespace": "partnerUid", "value": f"crm-{n}"}])
    return services.submit_case(
        services.verify_identity(case, actor=system_actor, method="account_login"),
        actor=system_actor)


def test_id5_partner_limit_counted_locally(make_case, system_actor, vendor_sandbox, settings):
    settings.ID5_DAILY_PARTNER_LIMIT = 1
    first, second = (_id5_case(make_case, system_actor, n) for n in range(2))
    tasks.send_pending_jobs()
    assert job(first, Vendor.ID5, "delete").status == JobStatus.SUBMITTED
    assert "per partner per day" in job(second, Vendor.ID5, "delete").last_error
    assert counter(vendor_sandbox, "id5.create_deletion") == 1


def test_id5_partner_limit_from_id5_stops_the_pass(make_case, system_actor, vendor_sandbox):
    control(vendor_sandbox, "config", {"id5_partner_daily_limit": 1})
    cases = [_id5_case(make_case, system_actor, n) for n in range(3)]
    tasks.send_pending_jobs()
    statuses = [job(c, Vendor.ID5, "delete") for c in cases]
    assert statuses[0].status == JobStatus.SUBMITTED
    assert all(j.status == JobStatus.PENDING and j.next_attempt_at for j in statuses[1:])
    assert counter(vendor_sandbox, "id5.create_deletion") == 2  # the third was never sent


def test_sync_faults_do_not_stop_the_pass(submitted, vendor_sandbox):
    first = submitted(actions=["access"], vendors=["adobe_privacy"])
    second = submitted(actions=["access"], vendors=["adobe_privacy"])
    fault(vendor_sandbox, vendor="adobe_privacy", operation="list_jobs", kind="5xx", count=5)
    fault(vendor_sandbox, vendor="adobe_privacy", operation="get_job", kind="5xx", count=1)
    tasks.sync_vendor_jobs(download_inline=True)
    statuses = {job(first).status, job(second).status}
    assert JobStatus.COMPLETE in statuses  # one failed read did not stop the other
    settle()
    assert job(first).status == job(second).status == JobStatus.COMPLETE


def test_error_job_needs_action_and_retry_sends_again(submitted, vendor_sandbox, system_actor):
    case = submitted(actions=["access"], vendors=["adobe_privacy"])
    control(vendor_sandbox, "outcome", {"id": job(case).vendor_job_id, "outcome": "error"})
    settle()
    failed = job(case)
    case.refresh_from_db()
    assert failed.status == JobStatus.ERROR
    assert case.status == CaseStatus.ACTION_REQUIRED and "error" in case.status_reason

    services.retry_job(failed, actor=system_actor)
    settle()
    case.refresh_from_db()
    assert job(case).status == JobStatus.COMPLETE
    assert case.status == CaseStatus.COMPLETED
    assert counter(vendor_sandbox, "adobe_privacy.create_jobs") == 2


def test_data_hygiene_record_delete(submitted, vendor_sandbox, system_actor):
    case = submitted(actions=["delete"], vendors=["adobe_privacy"])
    services.request_record_delete(case, actor=system_actor)
    settle()
    hygiene = job(case, Vendor.ADOBE_HYGIENE, "delete")
    assert hygiene.vendor_job_id.startswith("DI-")
    assert hygiene.status == JobStatus.COMPLETE
    assert counter(vendor_sandbox, "adobe_hygiene.create_workorder") == 1


def test_sync_command_runs_one_pass_inline(submitted, vendor_sandbox):
    from django.core.management import call_command

    case = submitted(actions=["access"], vendors=["adobe_privacy"])
    call_command("sync_vendor_jobs")
    assert job(case).result_status == ResultStatus.ATTACHED


def test_no_token_or_identity_in_audit_or_task_args(submitted, vendor_sandbox, settings):
    submitted()
    settle()
    text = " ".join(repr(e.details) for e in AuditEvent.objects.all())
    for secret in (settings.ID5_TOKEN, settings.ADOBE_CLIENT_SECRET, "ada.lovelace", "ID5-7d1f"):
        assert secret not in text
    assert AuditEvent.objects.filter(action="vendor.call").count() > 3


def test_id5_failed_job_says_what_id5_reported_and_what_to_do(submitted, vendor_sandbox):
    case = submitted(actions=["delete"], vendors=["id5"])
    request_id = job(case, Vendor.ID5, "delete").vendor_job_id
    control(vendor_sandbox, "outcome", {"id": request_id, "outcome": "failed"})
    settle()
    failed = job(case, Vendor.ID5, "delete")
    case.refresh_from_db()
    assert failed.status == JobStatus.ERROR and failed.vendor_status == "FAILED"
    assert "FAILED" in failed.last_error
    assert f"contact ID5 support with request id {request_id}" in failed.last_error
    assert "Retry failed jobs" in failed.last_error
    assert case.status == CaseStatus.ACTION_REQUIRED
    assert "see the job" not in case.status_reason
    assert f"request id {request_id}" in case.status_reason


def test_adobe_partial_access_job_keeps_its_reason_after_the_zip_is_attached(
    submitted, vendor_sandbox
):
    case = submitted(actions=["access"], vendors=["adobe_privacy"])
    adobe_id = job(case).vendor_job_id
    control(vendor_sandbox, "outcome", {"id": adobe_id, "outcome": "partial"})
    settle()
    partial = job(case)
    case.refresh_from_db()
    assert partial.status == JobStatus.PARTIAL
    assert partial.result_status == ResultStatus.ATTACHED  # the products that finished
    assert "PRVCY-1022-400 (data access failure)" in partial.last_error  # the failed product
    assert "6000-200" in partial.last_error  # and the ones that worked
    assert f"job id {adobe_id}" in partial.last_error
    assert "Retry failed jobs" in partial.last_error, partial.last_error
    assert "see the job" not in case.status_reason
    assert "PRVCY-1022-400" in case.status_reason


def test_a_problem_job_without_a_stored_reason_still_gets_one(make_case, system_actor):
    """Rows written before every problem carried its reason: the case reason is built from the
    vendor's status and codes instead of pointing at an empty field."""
    case = services.verify_identity(make_case(actions=["delete"], vendors=["id5"]),
                                    actor=system_actor, method="account_login")
    services.submit_case(case, actor=system_actor)
    VendorJob.objects.filter(case=case).update(
        status=JobStatus.ERROR, vendor_status="FAILED", vendor_job_id="0f" * 16, last_error=""
    )
    services.refresh_case_status(Case.objects.get(pk=case.pk))
    case.refresh_from_db()
    assert case.status == CaseStatus.ACTION_REQUIRED
    assert "see the job" not in case.status_reason
    assert "ID5 reports request " + "0f" * 16 + " as FAILED" in case.status_reason
