"""The sync pass at scale: bulk reads and writes, one read per Adobe job, a batched audit trail."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases import services, tasks
from cases.audit import verify_chain
from cases.choices import CaseStatus, JobStatus, ResultStatus
from cases.models import AuditEvent, Case, VendorJob


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def submit_cases(make_case, actor, n: int) -> None:
    """n access+delete cases for Adobe only, sent in one request: 2n submitted jobs."""
    for i in range(n):
        case = make_case(identities=[{"namespace": "email", "value": f"p{i}@example.org"}],
                         vendors=["adobe_privacy"])
        services.submit_case(services.verify_identity(case, actor=actor, method="account_login"),
                             actor=actor)
    tasks.send_pending_jobs()
    assert VendorJob.objects.filter(status=JobStatus.SUBMITTED).count() == 2 * n


def test_a_pass_over_400_adobe_jobs_takes_at_most_5_queries_per_job(
    make_case, system_actor, vendor_sandbox
):
    submit_cases(make_case, system_actor, 200)
    before = vendor_sandbox.counters()
    with CaptureQueriesContext(connection) as queries:
        tasks.sync_vendor_jobs(download_inline=True)
    assert len(queries.captured_queries) <= 5 * 400 + 40
    assert Case.objects.filter(status=CaseStatus.COMPLETED).count() == 200
    assert VendorJob.objects.filter(result_status=ResultStatus.ATTACHED).count() == 200
    calls = {k: v - before.get(k, 0) for k, v in vendor_sandbox.counters().items()}
    # One list call, each job read once (access jobs too: the download reuses that read).
    assert calls["adobe_privacy.list_jobs"] == 1
    assert calls["adobe_privacy.get_job"] == 400
    assert calls["adobe_privacy.download_result"] == 200


def test_a_pass_writes_one_call_summary_and_each_download_and_the_chain_verifies(
    make_case, system_actor, vendor_sandbox
):
    submit_cases(make_case, system_actor, 5)
    polls_before = AuditEvent.objects.filter(action="vendor.call",
                                             details__operation="get_job").count()
    tasks.sync_vendor_jobs(download_inline=True)
    summary = AuditEvent.objects.get(action="vendor.calls")
    rows = {(c["operation"], c["http_status"]): c for c in summary.details["calls"]}
    assert rows[("get_job", 200)]["count"] == 10 and rows[("list_jobs", 200)]["count"] == 1
    assert rows[("get_job", 200)]["max_ms"] <= rows[("get_job", 200)]["total_ms"]
    assert summary.details["count"] == 11
    assert AuditEvent.objects.filter(action="vendor.call", details__operation="get_job"
                                     ).count() == polls_before
    assert AuditEvent.objects.filter(action="vendor.call",
                                     details__operation="download_result").count() == 5
    assert AuditEvent.objects.filter(action="job.status_changed", details__to="complete"
                                     ).count() == 10
    assert AuditEvent.objects.filter(action="result.attached").count() == 5
    # Each case moved once, to completed, not once per job.
    assert AuditEvent.objects.filter(action="case.status_changed", details__to="completed"
                                     ).count() == 5
    assert verify_chain().ok


def test_a_job_an_officer_moved_during_the_pass_is_not_overwritten(
    make_case, system_actor, vendor_sandbox, monkeypatch
):
    submit_cases(make_case, system_actor, 1)
    access = VendorJob.objects.get(action="access")
    real = services.apply_job_changes

    def officer_cancels_first(updates, **kwargs):
        # What another worker or an officer could do between the pass's reads and its writes.
        VendorJob.objects.filter(pk=access.pk).update(status=JobStatus.CANCELLED)
        return real(updates, **kwargs)

    monkeypatch.setattr(services, "apply_job_changes", officer_cancels_first)
    tasks.sync_vendor_jobs(download_inline=True)
    access.refresh_from_db()
    assert access.status == JobStatus.CANCELLED and access.result_status == ResultStatus.NONE
    assert VendorJob.objects.get(action="delete").status == JobStatus.COMPLETE
    monkeypatch.undo()


def test_a_pass_takes_a_constant_number_of_queries_and_queues_downloads_in_batches(
    make_case, system_actor, vendor_sandbox, monkeypatch
):
    submit_cases(make_case, system_actor, 30)
    queued: list[list[int]] = []
    monkeypatch.setattr(services, "queue_downloads", queued.append)
    with CaptureQueriesContext(connection) as queries:
        tasks.sync_vendor_jobs()
    # 60 jobs read, written, audited and their cases refreshed: a handful of statements in all.
    assert len(queries.captured_queries) <= 40  # 400 jobs take as many (make bench)
    access = list(VendorJob.objects.filter(action="access").order_by("pk")
                  .values_list("pk", flat=True))
    assert queued == [access[:tasks.DOWNLOADS_PER_TASK], access[tasks.DOWNLOADS_PER_TASK:]]
    assert VendorJob.objects.filter(status=JobStatus.COMPLETE).count() == 60


def test_a_download_task_attaches_each_file_and_leaves_the_rest_past_its_budget(
    make_case, system_actor, vendor_sandbox, monkeypatch
):
    submit_cases(make_case, system_actor, 3)
    monkeypatch.setattr(services, "queue_downloads", lambda ids: None)
    tasks.sync_vendor_jobs()
    ids = list(VendorJob.objects.filter(result_status=ResultStatus.PENDING).values_list(
        "pk", flat=True))
    assert len(ids) == 3
    monkeypatch.setattr(tasks, "DOWNLOAD_TASK_BUDGET", dt.timedelta(0))
    assert tasks.download_results(ids) == "attached: 1, left for the next pass: 2"
    monkeypatch.undo()
    assert tasks.download_results(ids) == "attached: 2"
    assert VendorJob.objects.filter(result_status=ResultStatus.ATTACHED).count() == 3
    assert tasks.download_results(ids) == "nothing to do"
    assert verify_chain().ok


def test_the_case_status_counts_the_jobs_the_pass_did_not_read(
    make_case, system_actor, vendor_sandbox
):
    # ID5 has no access API: that job is a manual task the pass never reads, but it still
    # keeps the case from completing when the Adobe jobs and the ID5 delete finish.
    case = make_case(vendors=["adobe_privacy", "id5"])
    services.submit_case(services.verify_identity(case, actor=system_actor,
                                                  method="account_login"), actor=system_actor)
    tasks.send_pending_jobs()
    tasks.sync_vendor_jobs(download_inline=True)
    case.refresh_from_db()
    assert case.jobs.get(vendor="id5", action="access").status == JobStatus.MANUAL
    assert case.status == CaseStatus.ACTION_REQUIRED
    reason = case.status_reason
    assert "manual task" in reason
    services.refresh_case_status(case)  # the one-case path reads every job afresh
    case.refresh_from_db()
    assert (case.status, case.status_reason) == (CaseStatus.ACTION_REQUIRED, reason)
