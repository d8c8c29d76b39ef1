import datetime as dt
import hashlib
from pathlib import Path

import pytest
from django.utils import timezone

from cases import messaging, services
from cases.api.views import NO_CASE, NO_RESULT
from cases.audit import Actor
from cases.choices import ApiScope, CaseStatus, JobStatus, MessageKind
from cases.models import AuditEvent, Case, ResultFile, VendorJob
from tests.api.conftest import http_for
from tests.conftest import submitted_with_jobs

LIST_URL = "/api/v1/cases/"


@pytest.fixture
def own_case(make_case, ticketing):
    return make_case(api_client=ticketing, external_ref="TICKET-1",
                     actor=Actor.for_client(ticketing))


def _with_job_and_result(case) -> None:
    job = VendorJob.objects.create(case=case, vendor="adobe_privacy", action="access",
                                   status=JobStatus.COMPLETE, vendor_job_id=f"job-{case.pk}")
    ResultFile.objects.create(
        case=case, job=job, file=f"results/{case.reference}/r.zip", name="r.zip", size=3,
        sha256="0" * 64, purge_after=timezone.now() + dt.timedelta(days=90),
    )


def test_read_a_case_with_its_jobs_and_results(api, own_case):
    _with_job_and_result(own_case)

    response = api.get(f"{LIST_URL}{own_case.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["external_ref"] == "TICKET-1"
    assert body["days_left"] == own_case.days_left()
    job = body["vendor_jobs"][0]
    assert (job["vendor"], job["action"], job["status"]) == ("adobe_privacy", "access",
                                                              "complete")
    assert job["vendor_job_id"] == f"job-{own_case.pk}"
    result = body["results"][0]
    assert result["download_url"] == (
        f"http://testserver/api/v1/cases/{own_case.pk}/results/{result['id']}/download/"
    )


@pytest.mark.parametrize("path", ["{pk}/", "{pk}/events/", "{pk}/results/1/download/"])
def test_another_clients_case_is_not_found(make_client, own_case, path):
    _, other_key = make_client("Other desk")

    response = http_for(other_key).get(LIST_URL + path.format(pk=own_case.pk))

    assert response.status_code == 404
    assert response.json() == {"detail": NO_CASE}


def test_another_client_cannot_submit_it_either(make_client, own_case):
    _, other_key = make_client("Other desk")

    response = http_for(other_key).post(f"{LIST_URL}{own_case.pk}/submit/")

    assert response.status_code == 404
    own_case.refresh_from_db()
    assert own_case.status == CaseStatus.NEW


def test_the_list_holds_only_the_clients_own_cases(make_client, own_case, make_case):
    make_case(external_ref="OFFICER-ENTERED")
    _, other_key = make_client("Other desk")

    assert http_for(other_key).get(LIST_URL).json()["count"] == 0


def test_cases_all_scope_sees_every_case(make_client, own_case, make_case):
    make_case()
    _, key = make_client("Auditor desk", scopes=[ApiScope.CASES_READ, ApiScope.CASES_ALL])
    http = http_for(key)

    assert http.get(LIST_URL).json()["count"] == 2
    assert http.get(f"{LIST_URL}{own_case.pk}/").status_code == 200


@pytest.mark.parametrize("pk", ["abc", "0", "-4", "99999999", str(2**70)])
def test_an_unknown_id_is_404(api, pk):
    response = api.get(f"{LIST_URL}{pk}/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": NO_CASE}


def _make_cases(make_case, client, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        case = make_case(api_client=client, external_ref=f"T-{i}")
        _with_job_and_result(case)


@pytest.mark.parametrize("n", [2, 7])
def test_the_list_takes_the_same_queries_whatever_its_size(
    api, ticketing, make_case, django_assert_num_queries, n
):
    _make_cases(make_case, ticketing, n)

    # key look-up, count, page, jobs, results, messages
    with django_assert_num_queries(6):
        response = api.get(LIST_URL)

    assert len(response.json()["results"]) == n


def test_each_listed_case_reads_as_it_does_on_its_own(api, ticketing, make_case):
    # The list attaches jobs, results and messages itself (views.attach_shown_related): each
    # case must get its own rows, in the detail view's order, and nothing of another case's.
    _make_cases(make_case, ticketing, 3)
    busy = Case.objects.filter(api_client=ticketing).order_by("id")[1]
    VendorJob.objects.create(case=busy, vendor="id5", action="delete", status=JobStatus.PENDING)
    VendorJob.objects.create(case=busy, vendor="adobe_privacy", action="delete",
                             status=JobStatus.SUBMITTED, vendor_job_id="job-delete")
    messaging.queue_message(busy, MessageKind.ACKNOWLEDGEMENT, actor=Actor.system("t"))
    make_case(api_client=ticketing, external_ref="T-EMPTY")

    listed = api.get(LIST_URL).json()["results"]

    assert len(listed) == 4
    for case in listed:
        assert case == api.get(f"{LIST_URL}{case['id']}/").json()
    jobs = [(j["vendor"], j["action"]) for j in listed[1]["vendor_jobs"]]
    assert jobs == [("adobe_privacy", "access"), ("adobe_privacy", "delete"), ("id5", "delete")]
    assert [m["kind"] for m in listed[1]["messages"]] == ["acknowledgement"]
    assert listed[3]["vendor_jobs"] == listed[3]["results"] == listed[3]["messages"] == []


def test_pages_are_stable_and_ordered_by_id(api, ticketing, make_case):
    _make_cases(make_case, ticketing, 5)

    first = api.get(LIST_URL, {"page_size": 2}).json()
    second = api.get(first["next"]).json()
    last = api.get(LIST_URL, {"page_size": 2, "page": 3}).json()

    ids = [c["id"] for page in (first, second, last) for c in page["results"]]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert first["count"] == 5 and last["next"] is None


def test_a_page_past_the_end_is_404(api, own_case):
    assert api.get(LIST_URL, {"page": 9}).status_code == 404


def test_filters(api, ticketing, make_case):
    old = timezone.now() - dt.timedelta(days=100)
    overdue = make_case(api_client=ticketing, external_ref="OLD", received_at=old)
    ccpa = make_case(api_client=ticketing, external_ref="CA", regulation="ccpa")
    verified = make_case(api_client=ticketing, external_ref="V")
    services.verify_identity(verified, actor=Actor.system("tests"), method="account_login")

    def ids(**params):
        return {c["id"] for c in api.get(LIST_URL, params).json()["results"]}

    assert ids(overdue="true") == {overdue.pk}
    assert ids(overdue="false") == {ccpa.pk, verified.pk}
    assert ids(regulation="ccpa") == {ccpa.pk}
    assert ids(status="verified") == {verified.pk}
    assert ids(external_ref="OLD") == {overdue.pk}
    assert ids(status="new", regulation="gdpr") == {overdue.pk}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": "done"}, "status"), ({"regulation": "cpa"}, "regulation"),
     ({"overdue": "maybe"}, "overdue")],
)
def test_a_bad_filter_is_400(api, params, field):
    response = api.get(LIST_URL, params)

    assert response.status_code == 400
    assert field in response.json()


def test_submit_sends_a_new_case_to_the_workflow(api, own_case, ticketing):
    response = api.post(f"{LIST_URL}{own_case.pk}/submit/")

    assert response.status_code == 200
    assert response.json()["status"] in (CaseStatus.IN_PROGRESS, CaseStatus.ACTION_REQUIRED)
    assert response.json()["vendor_jobs"]
    event = AuditEvent.objects.get(action="case.submitted")
    assert (event.actor_type, event.actor_id) == ("api_client", str(ticketing.pk))


def test_submitting_a_rejected_case_is_409(api, own_case):
    services.reject(own_case, actor=Actor.system("tests"), reason="Withdrawn by email")

    response = api.post(f"{LIST_URL}{own_case.pk}/submit/")

    assert response.status_code == 409
    assert "rejected" in response.json()["detail"]


@pytest.mark.parametrize("jobs, reason", [
    ({"default": JobStatus.COMPLETE}, "is completed: nothing is left to send"),
    ({"adobe_privacy_access": JobStatus.ERROR}, "has nothing left to send"),
])
def test_submitting_a_case_with_nothing_left_to_send_is_409_and_changes_nothing(
    api, own_case, jobs, reason
):
    case = submitted_with_jobs(own_case, Actor.system("tests"), **jobs)
    before = (case.status, case.status_changed_at, AuditEvent.objects.count())

    response = api.post(f"{LIST_URL}{case.pk}/submit/")

    assert response.status_code == 409
    assert reason in response.json()["detail"]
    case.refresh_from_db()
    assert (case.status, case.status_changed_at, AuditEvent.objects.count()) == before


def test_events_are_the_cases_audit_trail_in_order(api, own_case):
    services.verify_identity(own_case, actor=Actor.system("tests"), method="account_login")

    response = api.get(f"{LIST_URL}{own_case.pk}/events/")

    assert response.status_code == 200
    events = response.json()["results"]
    assert [e["action"] for e in events][:3] == [
        "case.created", "case.status_changed", "case.identity_verified",
    ]
    assert events[0]["actor_type"] == "api_client"
    assert events[1]["details"] == {"from": "new", "to": "verified"}
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)


@pytest.fixture
def attached_result(own_case, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    content = b"PK\x05\x06" + b"\x00" * 18  # an empty ZIP
    path = tmp_path / "incoming.zip"
    path.write_bytes(content)
    job = VendorJob.objects.create(case=own_case, vendor="adobe_privacy", action="access",
                                   status=JobStatus.COMPLETE, result_status="pending")
    result = services.attach_result(
        job, path, name=f"{own_case.reference}-adobe_privacy-access.zip", size=len(content),
        sha256=hashlib.sha256(content).hexdigest(), entries=[],
    )
    return result, content


def test_download_streams_the_file_and_audits_it(api, own_case, ticketing, attached_result):
    result, content = attached_result

    response = api.get(f"{LIST_URL}{own_case.pk}/results/{result.pk}/download/",
                       HTTP_ACCEPT="application/zip")

    assert response.status_code == 200
    assert response.streaming
    assert b"".join(response.streaming_content) == content
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="{result.name}"'
    event = AuditEvent.objects.get(action="result.downloaded")
    assert (event.actor_type, event.actor_id) == ("api_client", str(ticketing.pk))
    assert event.object_id == str(result.pk)


@pytest.mark.parametrize("how", ["file gone from storage", "file field cleared"])
def test_download_of_a_purged_file_is_404_and_not_audited(api, own_case, attached_result, how):
    result, _ = attached_result
    Path(result.file.path).unlink()
    if how == "file field cleared":  # what the retention purge leaves behind
        ResultFile.objects.filter(pk=result.pk).update(file="")

    response = api.get(f"{LIST_URL}{own_case.pk}/results/{result.pk}/download/")

    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="result.downloaded").exists()


def test_download_of_another_cases_result_is_404(api, make_case, ticketing, attached_result):
    result, _ = attached_result
    other = make_case(api_client=ticketing, external_ref="TICKET-2")

    response = api.get(f"{LIST_URL}{other.pk}/results/{result.pk}/download/")

    assert response.status_code == 404
    assert response.json() == {"detail": NO_RESULT}
