"""Officers drive the vendor workflow from the case page and the case list."""

import pytest
from django.urls import reverse

from cases import services, tasks
from cases.choices import CaseStatus, JobStatus, ResultStatus, Vendor
from cases.models import AuditEvent, ResultFile, VendorJob

ADA = [
    {"namespace": "email", "value": "ada.lovelace@example.org"},
    {"namespace": "ecid", "value": "44363657679975868102109072127"},
]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def verified_case(make_case, system_actor):
    return services.verify_identity(make_case(identities=ADA), actor=system_actor)


def step(case, name):
    return reverse(f"admin:cases_case_step_{name}", args=[case.pk])


def test_submit_button_sends_the_case(
    client, officer, verified_case, vendor_sandbox, django_capture_on_commit_callbacks
):
    client.force_login(officer)
    page = client.get(reverse("admin:cases_case_change", args=[verified_case.pk]))
    assert b"Submit to vendors" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(step(verified_case, "submit"), follow=True)
    assert b"submitted to vendors" in response.content
    verified_case.refresh_from_db()
    assert verified_case.status in (CaseStatus.IN_PROGRESS, CaseStatus.ACTION_REQUIRED)
    adobe = VendorJob.objects.get(case=verified_case, vendor=Vendor.ADOBE_PRIVACY, action="access")
    assert adobe.status == JobStatus.SUBMITTED


def test_sync_now_then_download_the_result_is_audited(
    client, officer, verified_case, vendor_sandbox, django_capture_on_commit_callbacks,
    system_actor,
):
    client.force_login(officer)
    services.submit_case(verified_case, actor=system_actor)
    tasks.send_pending_jobs()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(step(verified_case, "sync"))
    tasks.sync_vendor_jobs(download_inline=True)
    result = ResultFile.objects.get(case=verified_case)

    page = client.get(reverse("admin:cases_case_change", args=[verified_case.pk]))
    url = reverse("admin:cases_case_result_download", args=[verified_case.pk, result.pk])
    assert url.encode() in page.content
    download = client.get(url)
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    assert b"".join(download.streaming_content)[:2] == b"PK"
    event = AuditEvent.objects.get(action="result.downloaded")
    assert event.actor_label == officer.username and event.case_id == verified_case.pk


def test_auditor_cannot_download_results(client, auditor, make_case):
    case = make_case()
    client.force_login(auditor)
    url = reverse("admin:cases_case_result_download", args=[case.pk, 999])
    assert client.get(url).status_code == 403


def test_retry_failed_jobs(client, officer, verified_case, vendor_sandbox, system_actor,
                           django_capture_on_commit_callbacks):
    services.submit_case(verified_case, actor=system_actor)
    tasks.send_pending_jobs()
    job = VendorJob.objects.get(case=verified_case, vendor=Vendor.ADOBE_PRIVACY, action="access")
    services.update_job(job, status=JobStatus.ERROR, last_error="PRVCY-1024-400 unexpected")
    client.force_login(officer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(step(verified_case, "retry"), follow=True)
    assert b"sent again" in response.content
    job.refresh_from_db()
    assert job.status == JobStatus.SUBMITTED


def test_mark_manual_job_done_needs_a_note(client, officer, make_case, system_actor,
                                           vendor_sandbox, django_capture_on_commit_callbacks):
    case = services.verify_identity(make_case(identities=ADA, vendors=["id5"],
                                              actions=["access"]), actor=system_actor)
    services.submit_case(case, actor=system_actor)
    manual = VendorJob.objects.get(case=case, status=JobStatus.MANUAL)
    client.force_login(officer)
    empty = client.post(step(case, "manual_done"), {"job": manual.pk, "note": ""})
    assert empty.status_code == 200 and b"This field is required" in empty.content
    client.post(step(case, "manual_done"), {"job": manual.pk, "note": "ID5 replied: no data"})
    manual.refresh_from_db()
    case.refresh_from_db()
    assert manual.status == JobStatus.COMPLETE and manual.note == "ID5 replied: no data"
    assert case.status == CaseStatus.COMPLETED


def test_record_delete_asks_for_confirmation_first(
    client, officer, make_case, system_actor, vendor_sandbox, django_capture_on_commit_callbacks
):
    case = services.verify_identity(make_case(identities=ADA, actions=["delete"]),
                                    actor=system_actor)
    client.force_login(officer)
    page = client.get(step(case, "record_delete"))
    assert b"not for GDPR/CCPA data subject requests" in page.content
    refused = client.post(step(case, "record_delete"), {})
    assert refused.status_code == 200
    assert not VendorJob.objects.filter(vendor=Vendor.ADOBE_HYGIENE).exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(step(case, "record_delete"), {"confirm": "on"})
    hygiene = VendorJob.objects.get(vendor=Vendor.ADOBE_HYGIENE)
    assert hygiene.status == JobStatus.SUBMITTED and hygiene.vendor_job_id.startswith("DI-")


def test_record_delete_not_configured_is_refused_with_the_reason(
    client, officer, make_case, system_actor
):
    case = services.verify_identity(make_case(identities=ADA, actions=["delete"]),
                                    actor=system_actor)
    client.force_login(officer)
    response = client.post(step(case, "record_delete"), {"confirm": "on"}, follow=True)
    assert b"ADOBE_SANDBOX_NAME" in response.content


def test_bulk_submit_reports_counts(client, officer, make_case, system_actor, vendor_sandbox,
                                    django_capture_on_commit_callbacks):
    verified = [services.verify_identity(make_case(identities=ADA), actor=system_actor)
                for _ in range(2)]
    new = make_case(identities=ADA)
    client.force_login(officer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:cases_case_changelist"),
            {"action": "submit", "_selected_action": [c.pk for c in [*verified]]},
            follow=True,
        )
    assert b"2 cases submitted to vendors" in response.content
    assert new.jobs.count() == 0


def test_dashboard_shows_vendor_work(client, officer, verified_case, vendor_sandbox,
                                     system_actor):
    services.submit_case(verified_case, actor=system_actor)
    client.force_login(officer)
    page = client.get(reverse("admin:index"))
    assert b"Vendor work in progress" in page.content
    assert b"Waiting to send" in page.content
    assert ResultStatus.PENDING  # the summary links to the job list filtered by result status


def test_officer_picks_an_id5_jurisdiction_for_another_regulation(
    client, officer, make_case, system_actor
):
    case = services.verify_identity(
        make_case(regulation="lgpd_bra", actions=["delete"], identities=ADA), actor=system_actor
    )
    client.force_login(officer)
    client.post(step(case, "routing"), {"vendors": ["id5"], "adobe_products": "",
                                         "id5_jurisdiction": "GDPR"})
    case.refresh_from_db()
    assert case.id5_jurisdiction == "GDPR" and case.vendors == ["id5"]
    services.submit_case(case, actor=system_actor)
    job = VendorJob.objects.get(case=case, vendor=Vendor.ID5)
    assert job.status == JobStatus.PENDING and job.jurisdiction == "GDPR"
    assert AuditEvent.objects.filter(action="case.routing_changed", case=case).exists()


def test_routing_is_fixed_once_submitted(make_case, system_actor):
    case = services.submit_case(make_case(identities=ADA), actor=system_actor)
    with pytest.raises(services.TransitionError):
        services.update_routing(case, actor=system_actor, vendors=[], adobe_products=[],
                                id5_jurisdiction="")
