"""Officers drive the vendor workflow from the case page and the case list."""

import pytest
from django.urls import reverse, reverse_lazy

from cases import services, tasks
from cases.choices import CaseStatus, JobStatus, ResultStatus, Vendor
from cases.models import AuditEvent, ResultFile, VendorJob
from tests.conftest import submitted_with_jobs

ADA = [
    {"namespace": "email", "value": "ada.lovelace@example.org"},
    {"namespace": "ecid", "value": "44363657679975868102109072127"},
]

CHANGELIST = reverse_lazy("admin:cases_case_changelist")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def verified_case(make_case, system_actor):
    return services.verify_identity(make_case(identities=ADA), actor=system_actor,
                                    method="account_login")


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
                                              actions=["access"]), actor=system_actor,
                                    method="account_login")
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
                                    actor=system_actor, method="account_login")
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
                                    actor=system_actor, method="account_login")
    client.force_login(officer)
    response = client.post(step(case, "record_delete"), {"confirm": "on"}, follow=True)
    assert b"ADOBE_SANDBOX_NAME" in response.content


def test_bulk_submit_of_deletes_shows_a_confirmation_first(
    client, officer, make_case, system_actor, vendor_sandbox, django_capture_on_commit_callbacks
):
    verified = [services.verify_identity(make_case(identities=ADA), actor=system_actor,
                                         method="account_login")
                for _ in range(2)]
    new = make_case(identities=ADA)
    client.force_login(officer)
    selection = {"action": "submit", "_selected_action": [c.pk for c in verified]}

    page = client.post(CHANGELIST, selection)

    assert page.status_code == 200
    html = page.content.decode()
    assert all(case.reference in html for case in verified)
    assert "Vendors asked to delete" in html and "Adobe Privacy Service, ID5" in html
    assert not VendorJob.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CHANGELIST, {**selection, "apply": "1"}, follow=True)
    assert b"2 cases submitted to vendors" in response.content
    assert new.jobs.count() == 0


def test_bulk_submit_of_access_only_cases_goes_straight_through(
    client, officer, make_case, system_actor
):
    case = services.verify_identity(make_case(identities=ADA, actions=["access"]),
                                    actor=system_actor, method="account_login")
    client.force_login(officer)

    response = client.post(CHANGELIST, {"action": "submit", "_selected_action": [case.pk]})

    assert response.status_code == 302
    assert case.jobs.exists()


def test_submit_is_hidden_and_refused_when_nothing_is_left_to_send(
    client, officer, make_case, system_actor
):
    case = submitted_with_jobs(make_case(identities=ADA), system_actor,
                               adobe_privacy_access=JobStatus.ERROR)
    assert case.status == CaseStatus.ACTION_REQUIRED
    client.force_login(officer)  # audited as auth.login
    before = (case.status_changed_at, AuditEvent.objects.count())

    page = client.get(reverse("admin:cases_case_change", args=[case.pk]))
    response = client.post(step(case, "submit"), follow=True)

    assert step(case, "submit") not in page.content.decode()
    assert step(case, "retry") in page.content.decode()
    html = response.content.decode()
    assert "nothing left to send" in html and "submitted to vendors" not in html
    case.refresh_from_db()
    assert case.status == CaseStatus.ACTION_REQUIRED
    assert (case.status_changed_at, AuditEvent.objects.count()) == before


# --- Closing ------------------------------------------------------------------------------------


def test_close_page_explains_closing_and_its_note(client, officer, make_case, system_actor):
    case = submitted_with_jobs(make_case(identities=ADA), system_actor,
                               default=JobStatus.COMPLETE)
    client.force_login(officer)

    html = client.get(step(case, "close")).content.decode()

    assert "the response has been delivered to the subject" in html
    assert "Response delivered another way" in html
    assert "how and when the response reached the subject" in html
    assert "needs a response sent through the portal (Send response)" in html
    assert "confirm_failed_deletes" not in html


def test_a_failed_delete_is_listed_and_closes_only_when_confirmed(
    client, officer, make_case, system_actor
):
    case = submitted_with_jobs(make_case(identities=ADA), system_actor,
                               default=JobStatus.COMPLETE, id5_delete=JobStatus.ERROR)
    client.force_login(officer)

    page = client.get(step(case, "close")).content.decode()
    delivered = {"delivered_out_of_band": "Sent by post on 2 January 2027"}
    unconfirmed = client.post(step(case, "close"), {"note": "Sent by post", **delivered})
    no_reason = client.post(step(case, "close"), {"confirm_failed_deletes": "on", **delivered})
    still = CaseStatus(type(case).objects.get(pk=case.pk).status)
    confirmed = client.post(step(case, "close"), {
        "note": "Sent by post", "confirm_failed_deletes": "on", **delivered,
        "failed_delete_reason": "ID5 confirmed by email they hold nothing",
    })

    assert "Failed deletes" in page and "ID5 delete: error (refused by the vendor)" in page
    assert 'name="confirm_failed_deletes"' in page
    assert unconfirmed.status_code == 200
    assert "did not succeed: the ID5 delete (error)" in unconfirmed.content.decode()
    assert no_reason.status_code == 200
    assert no_reason.context["form"].errors["failed_delete_reason"]
    assert still == CaseStatus.ACTION_REQUIRED
    assert confirmed.status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
    assert AuditEvent.objects.get(case=case, action="case.closed").details["confirmed"] is True


def test_bulk_close_confirms_the_cases_and_refuses_an_unconfirmed_failed_delete(
    client, officer, make_case, system_actor
):
    done = submitted_with_jobs(make_case(identities=ADA), system_actor,
                               default=JobStatus.COMPLETE)
    failed = submitted_with_jobs(make_case(identities=ADA), system_actor,
                                 default=JobStatus.COMPLETE, adobe_privacy_delete="partial")
    client.force_login(officer)
    selection = {"action": "close", "_selected_action": [done.pk, failed.pk]}

    page = client.post(CHANGELIST, selection)
    applied = client.post(CHANGELIST, {**selection, "apply": "1",
                                       "delivered_out_of_band": "Handed over in person"},
                          follow=True)

    html = page.content.decode()
    assert page.status_code == 200 and done.reference in html and failed.reference in html
    assert "Adobe Privacy Service delete: partially complete" in html
    assert 'name="confirm_failed_deletes"' in html
    done.refresh_from_db()
    failed.refresh_from_db()
    assert (done.status, failed.status) == (CaseStatus.CLOSED, CaseStatus.ACTION_REQUIRED)
    notes = applied.content.decode()
    assert f"{failed.reference}: The delete did not succeed" in notes
    assert "1 case closed." in notes


# --- Assigning ----------------------------------------------------------------------------------


def test_the_auditor_is_not_offered_as_an_assignee(client, officer, auditor, make_case):
    case = make_case(identities=ADA)
    client.force_login(officer)

    choices = client.get(step(case, "assign")).context["form"].fields["assignee"].queryset
    case_form = client.get(reverse("admin:cases_case_change", args=[case.pk]))
    bulk = client.post(CHANGELIST, {"action": "assign", "_selected_action": [case.pk],
                                    "apply": "1", "assignee": auditor.pk})

    assert officer in choices and auditor not in choices
    field = case_form.context["adminform"].form.fields["assignee"]
    assert auditor not in field.queryset and officer in field.queryset
    assert bulk.status_code == 200 and "Select a valid choice" in bulk.content.decode()
    case.refresh_from_db()
    assert case.assignee is None


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
        make_case(regulation="lgpd_bra", actions=["delete"], identities=ADA), actor=system_actor,
        method="account_login")
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
    case = services.submit_case(
        services.verify_identity(make_case(identities=ADA), actor=system_actor,
                                 method="account_login"), actor=system_actor)
    with pytest.raises(services.TransitionError):
        services.update_routing(case, actor=system_actor, vendors=[], adobe_products=[],
                                id5_jurisdiction="")
