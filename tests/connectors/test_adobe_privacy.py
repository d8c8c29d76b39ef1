"""Adobe Privacy Service: job creation and batching, job detail, listing, status mapping."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from cases.choices import JobStatus
from connectors.adobe_ims import IMS_TOKEN_URL, AdobeCredentials, AdobeTokenProvider, MemoryCache
from connectors.adobe_privacy import (
    PRIVACY_BASE_URL,
    AdobePrivacyClient,
    JobOptions,
    PrivacyUser,
    ProductResponse,
    UserID,
    job_status,
    parse_adobe_date,
)
from connectors.base import (
    AuthError,
    InvalidInput,
    PermanentError,
    RateLimited,
    TransientError,
    make_session,
)

DATA = Path(__file__).resolve().parent.parent / "data"
JOBS = f"{PRIVACY_BASE_URL}/jobs"
ORG = "745F37C35E4B776E0A49421B@AdobeOrg"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@pytest.fixture
def client() -> AdobePrivacyClient:
    creds = AdobeCredentials(client_id="client-abc", client_secret="secret-xyz-123", org_id=ORG,
                             scopes="openid,AdobeID")
    tokens = AdobeTokenProvider(creds, MemoryCache(), session=make_session(backoff_factor=0))
    return AdobePrivacyClient(tokens, session=make_session(backoff_factor=0))


@pytest.fixture(autouse=True)
def ims() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(IMS_TOKEN_URL, json={"access_token": "tok-1", "expires_in": 86399})
        yield mock


def user(key: str = "DSAR-2026-000123", actions: tuple[str, ...] = ("delete",),
         ids: int = 1) -> PrivacyUser:
    user_ids = (UserID("email", "johndoe4@gmail.com"),
                *(UserID("ECID", f"443636576799758681021090721{n:03d}") for n in range(ids - 1)))
    return PrivacyUser(key, actions, user_ids)


def api_calls(mock: responses.RequestsMock) -> list[Any]:
    return [call for call in mock.calls if call.request.url.startswith(PRIVACY_BASE_URL)]


# --------------------------------------------------------------------------- create


def test_create_jobs_sends_headers_and_body(client: AdobePrivacyClient,
                                            ims: responses.RequestsMock) -> None:
    ims.post(JOBS, status=202, json=load("adobe_privacy_create_jobs.json"))
    both = PrivacyUser("DSAR-2026-000123", ("access", "delete"), (
        UserID("ecid", "38400000-8cf0-11bd-b23e-10b96e40000d"),
        UserID("email", "johndoe4@gmail.com", is_deleted_client_side=False)))
    result = client.create_jobs([both], include=["Analytics", "target"], regulation="gdpr",
                                options=JobOptions(expand_ids=True, priority="low"))
    request = api_calls(ims)[0].request
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert request.headers["x-api-key"] == "client-abc"
    assert request.headers["x-gw-ims-org-id"] == ORG
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "companyContexts": [{"namespace": "imsOrgID", "value": ORG}],
        "users": [{"key": "DSAR-2026-000123", "action": ["access", "delete"], "userIDs": [
            {"namespace": "ecid", "value": "38400000-8cf0-11bd-b23e-10b96e40000d",
             "type": "standard"},
            {"namespace": "email", "value": "johndoe4@gmail.com", "type": "standard",
             "isDeletedClientSide": False}]}],
        "include": ["Analytics", "target"],
        "regulation": "gdpr",
        "expandIds": True,
        "priority": "low",
    }
    assert result.request_id == "17163122360480365RX-705"
    assert [(j.job_id, j.key, j.action) for j in result.jobs] == [
        ("e709b1f4-1796-11ef-b422-eddd0aebc40d", "DSAR-2026-000123", "delete"),
        ("f1c2d3e4-1796-11ef-b422-eddd0aebc40d", "DSAR-2026-000123", "access")]
    assert result.added_products == ()


def test_create_jobs_reads_jobdetails_spelling_and_missing_request_id(
        client: AdobePrivacyClient, ims: responses.RequestsMock) -> None:
    ims.post(JOBS, status=202, json=load("adobe_privacy_create_jobdetails.json"))
    custom = PrivacyUser("DSAR-2026-000124", ("access",),
                         (UserID("Loyalty ID", "30583967185734", type="custom"),))
    result = client.create_jobs([custom], include=["aepDataLake"], regulation="ccpa")
    assert result.request_id is None
    assert result.total_records == 1
    assert result.jobs[0].job_id == "c9b5fd82-db14-4c27-8bec-64a06e1fbda4"
    assert result.jobs[0].action == "access"


def test_delete_with_cjm_adds_upstream_products(client: AdobePrivacyClient,
                                                ims: responses.RequestsMock) -> None:
    ims.post(JOBS, status=202, json=load("adobe_privacy_create_jobs.json"))
    result = client.create_jobs([user()], include=["CJM"], regulation="gdpr")
    assert json.loads(api_calls(ims)[0].request.body)["include"] == [
        "CJM", "profileService", "AdobeCloudPlatform", "identity"]
    assert result.added_products == ("profileService", "AdobeCloudPlatform", "identity")


def test_cjm_rule_counts_aep_data_lake_alias_and_ignores_case(
        client: AdobePrivacyClient, ims: responses.RequestsMock) -> None:
    ims.post(JOBS, status=202, json=load("adobe_privacy_create_jobs.json"))
    result = client.create_jobs([user()], include=["cjm", "aepDataLake", "PROFILESERVICE"],
                                regulation="gdpr")
    assert result.added_products == ("identity",)


def test_access_with_cjm_gains_nothing(client: AdobePrivacyClient,
                                       ims: responses.RequestsMock) -> None:
    ims.post(JOBS, status=202, json=load("adobe_privacy_create_jobs.json"))
    result = client.create_jobs([user(actions=("access",))], include=["CJM"], regulation="gdpr")
    assert result.include == ("CJM",) and result.added_products == ()


def test_1001_users_are_sent_as_two_requests(client: AdobePrivacyClient,
                                             ims: responses.RequestsMock) -> None:
    ims.post(JOBS, status=202, json=load("adobe_privacy_create_jobs.json"))
    users = [user(f"DSAR-2026-{n:06d}") for n in range(1001)]
    outcomes = client.submit_jobs(users, include=["analytics"], regulation="gdpr")
    sizes = [len(json.loads(c.request.body)["users"]) for c in api_calls(ims)]
    assert sizes == [1000, 1]
    assert [len(o.keys) for o in outcomes] == [1000, 1]
    assert all(o.result and o.error is None for o in outcomes)


def test_submit_keeps_access_only_users_out_of_cjm_upstream(
        client: AdobePrivacyClient, ims: responses.RequestsMock) -> None:
    ims.post(JOBS, status=202, json=load("adobe_privacy_create_jobs.json"))
    outcomes = client.submit_jobs([user("A", ("access",)), user("D", ("delete",))],
                                  include=["CJM"], regulation="gdpr")
    assert [(o.keys, o.added_products) for o in outcomes] == [
        (("D",), ("profileService", "AdobeCloudPlatform", "identity")), (("A",), ())]


def test_create_jobs_refuses_more_than_1000_users(client: AdobePrivacyClient) -> None:
    with pytest.raises(InvalidInput, match="at most 1000 users"):
        client.create_jobs([user(f"K{n}") for n in range(1001)], include=["analytics"],
                           regulation="gdpr")


def test_a_failed_batch_does_not_lose_the_batch_that_succeeded(
        client: AdobePrivacyClient, ims: responses.RequestsMock) -> None:
    ims.post(JOBS, status=202, json=load("adobe_privacy_create_jobs.json"))
    ims.post(JOBS, status=500, json={"title": "Internal Server Error"})
    users = [user(f"DSAR-2026-{n:06d}") for n in range(1500)]
    first, second = client.submit_jobs(users, include=["analytics"], regulation="gdpr")
    assert first.result is not None and first.error is None
    # Adobe answered 500: that batch was refused, not applied, so it is retried, not reconciled.
    assert isinstance(second.error, TransientError) and not second.error.maybe_sent


def test_rate_limit_stops_the_remaining_batches(client: AdobePrivacyClient,
                                                ims: responses.RequestsMock) -> None:
    ims.post(JOBS, status=429, headers={"Retry-After": "3600"}, json={})
    users = [user(f"DSAR-2026-{n:06d}") for n in range(2500)]
    outcomes = client.submit_jobs(users, include=["analytics"], regulation="gdpr")
    assert len(api_calls(ims)) == 1
    assert all(isinstance(o.error, RateLimited) for o in outcomes)
    assert outcomes[0].error.retry_after == 3600
    assert [o.error.maybe_sent for o in outcomes] == [False, False, False]
    assert "Not sent" in outcomes[2].error.message


@pytest.mark.parametrize(
    ("bad_user", "message"),
    [
        (user(ids=10), "1 to 9"),
        (PrivacyUser("K", ("delete",), (UserID("Loyalty ID", "305"),)), "type to 'custom'"),
        (PrivacyUser("K", ("delete",), (UserID("email", "a@b.c", type="weird"),)), "type 'weird'"),
        (PrivacyUser("K", ("erase",), (UserID("email", "a@b.c"),)), "action must be"),
        (PrivacyUser("", ("delete",), (UserID("email", "a@b.c"),)), "needs a key"),
    ],
)
def test_invalid_users_are_refused_before_sending(client: AdobePrivacyClient,
                                                  bad_user: PrivacyUser, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        client.create_jobs([bad_user], include=["analytics"], regulation="gdpr")


@pytest.mark.parametrize(
    ("include", "regulation", "options", "message"),
    [
        ([], "gdpr", JobOptions(), "at least one Adobe product"),
        (["photoshop"], "gdpr", JobOptions(), "Unknown Adobe product"),
        (["analytics"], "cpra_usa", JobOptions(), "use 'cpra_ca_usa'"),
        (["analytics"], "gdpr", JobOptions(priority="urgent"), "priority"),
        (["analytics"], "gdpr", JobOptions(analytics_delete_method="shred"), "anonymize"),
    ],
)
def test_invalid_requests_are_refused_before_sending(
        client: AdobePrivacyClient, include: list[str], regulation: str, options: JobOptions,
        message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        client.create_jobs([user()], include=include, regulation=regulation, options=options)


def test_invalid_namespace_error_tells_the_officer_what_to_fix(
        client: AdobePrivacyClient, ims: responses.RequestsMock) -> None:
    ims.post(JOBS, status=400, json=load("adobe_error_invalid_namespace.json"))
    with pytest.raises(PermanentError) as caught:
        client.create_jobs([user()], include=["analytics"], regulation="gdpr")
    assert caught.value.message.startswith(
        "Adobe Privacy Service rejected the request (create_jobs): Invalid Namespace")
    assert "(HTTP 400) — fix the identity namespace" in caught.value.message
    assert not caught.value.maybe_sent and not caught.value.retryable


def test_forbidden_is_an_auth_error(client: AdobePrivacyClient,
                                    ims: responses.RequestsMock) -> None:
    ims.post(JOBS, status=403, json={"error_code": "403003", "message": "Api Key is invalid"})
    with pytest.raises(AuthError, match="Api Key is invalid"):
        client.create_jobs([user()], include=["analytics"], regulation="gdpr")


def test_unreadable_create_answer_means_reconcile(client: AdobePrivacyClient,
                                                  ims: responses.RequestsMock) -> None:
    ims.post(JOBS, status=202, json={"jobs": [{"customer": {}}]})
    with pytest.raises(TransientError) as caught:
        client.create_jobs([user()], include=["analytics"], regulation="gdpr")
    assert caught.value.maybe_sent and caught.value.code == "malformed_response"


# --------------------------------------------------------------------------- get job


def test_get_job_parses_products_codes_dates_and_download_url(
        client: AdobePrivacyClient, ims: responses.RequestsMock) -> None:
    body = load("adobe_privacy_job_complete.json")
    ims.get(f"{JOBS}/{body['jobId']}", json=body)
    job = client.get_job(body["jobId"])
    assert job.status == JobStatus.COMPLETE
    assert job.vendor_status == "complete"
    assert (job.request_id, job.user_key, job.action, job.regulation) == (
        "15700479082313109RX-899", "DSAR-2026-000123", "access", "gdpr")
    assert job.created_at == datetime(2019, 10, 2, 20, 25, tzinfo=UTC)
    assert job.result_codes == ("6000-200", "6052-200")
    assert job.products[1].processed_at == datetime(2019, 10, 2, 20, 27, tzinfo=UTC)
    assert job.download_url == body["downloadURL"]
    assert "download" not in repr(job)  # the URL leads to personal data


def test_get_job_reads_download_url_lowercase_spelling_and_partial_status(
        client: AdobePrivacyClient, ims: responses.RequestsMock) -> None:
    body = load("adobe_privacy_job_partial.json")
    ims.get(f"{JOBS}/{body['jobId']}", json=body)
    job = client.get_job(body["jobId"])
    assert job.status == JobStatus.PARTIAL
    assert job.download_url == body["downloadUrl"]
    assert job.child_job_ids == ("a1b2c3d4-0000-4000-8000-000000000001",)
    assert job.products[0].retry_count == 1


def test_get_unknown_job_is_permanent_not_found(client: AdobePrivacyClient,
                                                ims: responses.RequestsMock) -> None:
    ims.get(f"{JOBS}/nope", status=404, json={"title": "Not Found"})
    with pytest.raises(PermanentError) as caught:
        client.get_job("nope")
    assert caught.value.code == "not_found"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/02/2019 08:25 PM GMT", datetime(2019, 10, 2, 20, 25, tzinfo=UTC)),
        ("01/15/2026 12:05 AM GMT", datetime(2026, 1, 15, 0, 5, tzinfo=UTC)),
        ("01/16/2026 12:30 PM GMT", datetime(2026, 1, 16, 12, 30, tzinfo=UTC)),
        ("2026-01-16T12:30:00Z", datetime(2026, 1, 16, 12, 30, tzinfo=UTC)),
        ("13/45/2026 10:00 AM GMT", None),
        ("", None),
        (None, None),
    ],
)
def test_adobe_dates_become_aware_utc_datetimes(text: str | None,
                                                expected: datetime | None) -> None:
    assert parse_adobe_date(text) == expected


def _product(code: str | None, status: str = "complete") -> ProductResponse:
    return ProductResponse("Analytics", status, code, None, None, 0, None)


@pytest.mark.parametrize(
    ("vendor_status", "products", "expected"),
    [
        ("submitted", [], JobStatus.SUBMITTED),
        ("processing", [_product("6000-200")], JobStatus.PROCESSING),
        ("error", [_product("6000-200")], JobStatus.ERROR),
        ("complete", [], JobStatus.COMPLETE),
        ("complete", [_product("6000-200"), _product("6051-200"), _product("6052-200")],
         JobStatus.COMPLETE),
        ("complete", [_product("6054-200")], JobStatus.PARTIAL),
        ("complete", [_product("6000-200"), _product("1024-400", "error")], JobStatus.PARTIAL),
        ("complete", [_product("6053-200")], JobStatus.ERROR),
        ("complete", [_product(None, "error"), _product(None, "error")], JobStatus.ERROR),
        ("complete", [_product(None, "complete")], JobStatus.COMPLETE),
        ("Complete", [_product("6000-200")], JobStatus.COMPLETE),
        ("paused", [], JobStatus.PROCESSING),
    ],
)
def test_vendor_statuses_and_codes_map_to_one_normalised_status(
        vendor_status: str, products: list[ProductResponse], expected: JobStatus) -> None:
    assert job_status(vendor_status, products) == expected


# --------------------------------------------------------------------------- list


def test_list_jobs_walks_every_page_from_zero(client: AdobePrivacyClient,
                                              ims: responses.RequestsMock) -> None:
    base = {"regulation": "gdpr", "size": "2", "status": "complete",
            "fromDate": "2026-11-01", "toDate": "2026-11-30"}
    ims.get(JOBS, json=load("adobe_privacy_list_page0.json"),
            match=[matchers.query_param_matcher({**base, "page": "0"})])
    ims.get(JOBS, json=load("adobe_privacy_list_page1.json"),
            match=[matchers.query_param_matcher({**base, "page": "1"})])
    listing = client.list_jobs(regulation="gdpr", status="complete", size=2,
                               from_date=date(2026, 11, 1), to_date=date(2026, 11, 30))
    assert listing.total_records == 3 and listing.complete
    assert [j.status for j in listing.jobs] == [
        JobStatus.COMPLETE, JobStatus.PROCESSING, JobStatus.ERROR]
    assert listing.jobs[0].updated_at == datetime(2026, 11, 21, 9, 15, tzinfo=UTC)
    assert len(api_calls(ims)) == 2


def test_list_jobs_stops_at_an_empty_page(client: AdobePrivacyClient,
                                          ims: responses.RequestsMock) -> None:
    ims.get(JOBS, json={"totalRecords": 5, "jobDetails": load(
        "adobe_privacy_list_page0.json")["jobDetails"]})
    ims.get(JOBS, json={"totalRecords": 5, "jobDetails": []})
    listing = client.list_jobs(regulation="gdpr")
    assert len(listing.jobs) == 2 and not listing.complete
    assert len(api_calls(ims)) == 2


def test_find_jobs_filters_by_user_key(client: AdobePrivacyClient,
                                       ims: responses.RequestsMock) -> None:
    ims.get(JOBS, json={"totalRecords": 2, "jobDetails": load(
        "adobe_privacy_list_page0.json")["jobDetails"]})
    found = client.find_jobs("DSAR-2026-000001", regulation="gdpr")
    assert {job.action for job in found} == {"access", "delete"}
    assert "size=1000" in api_calls(ims)[0].request.url


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"from_date": date(2026, 10, 1), "to_date": date(2026, 11, 15)}, "30 days"),
        ({"from_date": date(2026, 11, 1)}, "both fromDate and toDate"),
        ({"from_date": date(2026, 11, 2), "to_date": date(2026, 11, 1)}, "before fromDate"),
        ({"size": 1001}, "between 1 and 1000"),
        ({"status": "done"}, "status must be"),
        ({"regulation": "vcdpa_usa"}, "vcdpa_va_usa"),
    ],
)
def test_list_jobs_validates_before_sending(client: AdobePrivacyClient, kwargs: dict[str, Any],
                                            message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        client.list_jobs(**{"regulation": "gdpr", **kwargs})
