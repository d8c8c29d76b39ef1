"""Vendor sandbox: Adobe IMS and Privacy Service, over real HTTP on a loopback port."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
import requests

TIMEOUT = 5
ADOBE_DATE = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2} (AM|PM) GMT$")


def token_url(sandbox) -> str:
    return f"{sandbox.url}/adobe/ims/ims/token/v3"


def jobs_url(sandbox, suffix: str = "") -> str:
    return f"{sandbox.url}/adobe/privacy/jobs{suffix}"


def create(sandbox, headers, body) -> requests.Response:
    return requests.post(jobs_url(sandbox), json=body, headers=headers, timeout=TIMEOUT)


def get_job(sandbox, headers, job_id: str) -> dict:
    response = requests.get(jobs_url(sandbox, f"/{job_id}"), headers=headers, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


def first_job_id(sandbox, headers, body) -> str:
    response = create(sandbox, headers, body)
    assert response.status_code == 202, response.text
    return response.json()["jobs"][0]["jobId"]


# --- IMS ----------------------------------------------------------------------------------


def test_ims_issues_a_bearer_token_with_expiry(sandbox):
    form = {
        "grant_type": "client_credentials",
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
        "scope": "openid,AdobeID",
    }
    response = requests.post(token_url(sandbox), data=form, timeout=TIMEOUT)
    assert response.status_code == 200
    data = response.json()
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 86399
    assert len(data["access_token"]) > 40


def test_ims_tokens_are_random(sandbox, headers_for):
    assert headers_for(sandbox)["Authorization"] != headers_for(sandbox)["Authorization"]


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_id": "sandbox-client", "client_secret": "nope"}, 401, "invalid_client"),
        ({"client_id": "someone-else", "client_secret": "sandbox-secret"}, 400, "invalid_client"),
        ({"client_secret": "sandbox-secret"}, 400, "invalid_request"),
    ],
)
def test_ims_rejects_bad_credentials(sandbox, form, status, error):
    form = {"grant_type": "client_credentials", **form}
    response = requests.post(token_url(sandbox), data=form, timeout=TIMEOUT)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_ims_rejects_other_grant_types(sandbox):
    form = {"grant_type": "password", "client_id": "sandbox-client"}
    response = requests.post(token_url(sandbox), data=form, timeout=TIMEOUT)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_ims_credentials_and_expiry_are_configurable(make_sandbox, headers_for, jobs_body):
    server = make_sandbox(
        client_id="cid", client_secret="sec", org_id="X@AdobeOrg", token_expires_in=60
    )
    headers = headers_for(server)
    body = jobs_body(companyContexts=[{"namespace": "imsOrgId", "value": "X@AdobeOrg"}])
    assert create(server, headers, body).status_code == 202
    server.advance(seconds=61)
    response = create(server, headers, body)
    assert response.status_code == 401
    assert response.json()["error_code"] == "401013"


def test_ims_secret_is_redacted_in_the_request_log(sandbox, headers_for):
    headers_for(sandbox)
    [entry] = sandbox.requests("adobe_ims", "token")
    assert entry["body"]["client_secret"] == "***"
    assert entry["body"]["client_id"] == "sandbox-client"
    assert "sandbox-secret" not in json.dumps(sandbox.requests())


# --- Privacy Service: gateway -------------------------------------------------------------


def test_privacy_requires_a_known_bearer_token(sandbox, adobe_headers, jobs_body):
    for authorization in (None, "Bearer not-a-token", "Basic abc"):
        headers = {**adobe_headers, "Authorization": authorization}
        headers = {k: v for k, v in headers.items() if v is not None}
        assert create(sandbox, headers, jobs_body()).status_code == 401


def test_privacy_rejects_revoked_tokens(sandbox, adobe_headers, jobs_body):
    assert sandbox.revoke_tokens() == 1
    assert create(sandbox, adobe_headers, jobs_body()).status_code == 401


@pytest.mark.parametrize(
    ("header", "value", "code"),
    [("x-api-key", "other-client", "403003"), ("x-gw-ims-org-id", "OTHER@AdobeOrg", "403023")],
)
def test_privacy_checks_api_key_and_org(sandbox, adobe_headers, jobs_body, header, value, code):
    response = create(sandbox, {**adobe_headers, header: value}, jobs_body())
    assert response.status_code == 403
    assert response.json()["error_code"] == code


def test_privacy_requires_json_content_type(sandbox, adobe_headers, jobs_body):
    headers = {**adobe_headers, "Content-Type": "text/plain"}
    response = requests.post(
        jobs_url(sandbox), data=json.dumps(jobs_body()), headers=headers, timeout=TIMEOUT
    )
    assert response.status_code == 415
    assert sandbox.state.privacy_jobs == {}


# --- Privacy Service: create --------------------------------------------------------------


def test_create_makes_one_job_per_user_and_action(sandbox, adobe_headers, jobs_body):
    users = [
        {
            "key": "A",
            "action": ["access", "delete"],
            "userIDs": [{"namespace": "email", "value": "a@example.org", "type": "standard"}],
        },
        {
            "key": "B",
            "action": ["delete"],
            "userIDs": [{"namespace": "Loyalty ID", "value": "305839", "type": "custom"}],
        },
    ]
    response = create(sandbox, adobe_headers, jobs_body(users=users))
    assert response.status_code == 202
    data = response.json()
    assert data["totalRecords"] == 3
    assert re.fullmatch(r"\d{17}RX-\d{3}", data["requestId"])
    pairs = [(j["customer"]["user"]["key"], j["customer"]["user"]["action"]) for j in data["jobs"]]
    assert pairs == [("A", ["access"]), ("A", ["delete"]), ("B", ["delete"])]
    email = data["jobs"][0]["customer"]["user"]["userIDs"][0]
    assert email == {
        "namespace": "email",
        "value": "a@example.org",
        "type": "standard",
        "namespaceId": 6,
        "isDeletedClientSide": False,
    }
    assert "namespaceId" not in data["jobs"][2]["customer"]["user"]["userIDs"][0]
    assert len({j["jobId"] for j in data["jobs"]}) == 3


def test_product_codes_are_case_insensitive(sandbox, adobe_headers, jobs_body):
    body = jobs_body(include=["ANALYTICS", "adobecloudplatform", "aepDataLake", "CJM"])
    job = get_job(sandbox, adobe_headers, first_job_id(sandbox, adobe_headers, body))
    products = [p["product"] for p in job["productResponses"]]
    assert products == ["Analytics", "AdobeCloudPlatform", "JourneyOptimizer"]


def _user(n_ids: int = 1, **overrides) -> dict:
    ids = [
        {"namespace": "email", "value": f"u{i}@example.org", "type": "standard"}
        for i in range(n_ids)
    ]
    return {"key": "K", "action": ["access"], "userIDs": ids, **overrides}


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"users": [_user()] * 1001}, "At most 1000 users"),
        ({"users": []}, "users is required"),
        ({"users": [_user(10)]}, "at most 9 userIDs"),
        ({"users": [_user(0)]}, "userIDs is required"),
        ({"users": [_user(key="")]}, "key is required"),
        ({"users": [_user(action=["sell"])]}, "action values"),
        (
            {
                "users": [
                    _user(userIDs=[{"namespace": "Loyalty", "value": "1", "type": "standard"}])
                ]
            },
            "Invalid Namespace",
        ),
        (
            {"users": [_user(userIDs=[{"namespace": "email", "value": "x", "type": "weird"}])]},
            "type must be one of",
        ),
        ({"include": []}, "include is required"),
        ({"include": ["photoshop"]}, "Invalid product code"),
        ({"regulation": None}, "regulation is required"),
        ({"regulation": "gdrp"}, "Invalid regulation"),
        (
            {"companyContexts": [{"namespace": "imsOrgID", "value": "OTHER@AdobeOrg"}]},
            "companyContexts",
        ),
        ({"priority": "urgent"}, "priority"),
    ],
)
def test_create_validates_like_adobe(sandbox, adobe_headers, jobs_body, overrides, detail):
    response = create(sandbox, adobe_headers, jobs_body(**overrides))
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert response.json()["errorCode"] == 400
    assert sandbox.state.privacy_jobs == {}


def test_create_accepts_a_full_batch_of_1000_users(sandbox, adobe_headers, jobs_body):
    users = [_user(key=f"K{i}") for i in range(1000)]
    response = create(sandbox, adobe_headers, jobs_body(users=users))
    assert response.status_code == 202
    assert response.json()["totalRecords"] == 1000


@pytest.mark.parametrize(
    ("retired", "current"),
    [
        ("cpra_usa", "cpra_ca_usa"),
        ("vcdpa_usa", "vcdpa_va_usa"),
        ("ucpa_usa", "ucpa_ut_usa"),
        ("cpa", "cpa_co_usa"),
        ("ctdpa", "ctdpa_ct_usa"),
    ],
)
def test_retired_regulations_are_refused_naming_the_new_code(
    sandbox, adobe_headers, jobs_body, retired, current
):
    response = create(sandbox, adobe_headers, jobs_body(regulation=retired))
    assert response.status_code == 400
    assert current in response.json()["detail"]


# --- Privacy Service: status --------------------------------------------------------------


def test_jobs_walk_submitted_processing_complete(make_sandbox, headers_for, jobs_body):
    server = make_sandbox(speed=None)
    headers = headers_for(server)
    job_id = first_job_id(server, headers, jobs_body())
    seen = [get_job(server, headers, job_id)["status"]]
    for _ in range(3):
        server.advance(steps=1)
        seen.append(get_job(server, headers, job_id)["status"])
    assert seen == ["submitted", "processing", "complete", "complete"]


def test_jobs_advance_with_the_clock_at_the_configured_speed(make_sandbox, headers_for, jobs_body):
    server = make_sandbox(speed=100)
    headers = headers_for(server)
    job_id = first_job_id(server, headers, jobs_body())
    assert get_job(server, headers, job_id)["status"] == "submitted"
    server.advance(seconds=100)
    job = get_job(server, headers, job_id)
    assert job["status"] == "processing"
    assert {p["productStatusResponse"]["status"] for p in job["productResponses"]} == {"processing"}
    server.advance(seconds=100)
    assert get_job(server, headers, job_id)["status"] == "complete"


def test_instant_mode_completes_on_first_read(sandbox, adobe_headers, jobs_body):
    job = get_job(sandbox, adobe_headers, first_job_id(sandbox, adobe_headers, jobs_body()))
    assert job["status"] == "complete"
    assert job["regulation"] == "gdpr"
    assert job["userKey"] == "DSAR-2026-000001"
    assert job["submittedBy"] == "sandbox-client@AdobeID"
    assert ADOBE_DATE.match(job["createdDate"]) and ADOBE_DATE.match(job["lastModifiedDate"])
    for product in job["productResponses"]:
        assert product["productStatusResponse"]["responseMsgCode"] == "PRVCY-6000-200"
        assert ADOBE_DATE.match(product["processedDate"])


def test_unknown_job_is_404(sandbox, adobe_headers):
    response = requests.get(jobs_url(sandbox, "/nope"), headers=adobe_headers, timeout=TIMEOUT)
    assert response.status_code == 404


def test_cjm_delete_without_upstream_products_stays_processing(sandbox, adobe_headers, jobs_body):
    body = jobs_body(include=["CJM", "profileService"])
    body["users"][0]["action"] = ["delete"]
    job_id = first_job_id(sandbox, adobe_headers, body)
    sandbox.advance(steps=50)
    job = get_job(sandbox, adobe_headers, job_id)
    assert job["status"] == "processing"
    statuses = {p["product"]: p["productStatusResponse"]["status"] for p in job["productResponses"]}
    assert statuses == {"JourneyOptimizer": "processing", "Profile": "complete"}


@pytest.mark.parametrize(
    ("action", "include"),
    [("delete", ["CJM", "profileService", "AdobeCloudPlatform", "identity"]), ("access", ["CJM"])],
)
def test_cjm_completes_with_upstream_products_or_for_access(
    sandbox, adobe_headers, jobs_body, action, include
):
    body = jobs_body(include=include)
    body["users"][0]["action"] = [action]
    job = get_job(sandbox, adobe_headers, first_job_id(sandbox, adobe_headers, body))
    assert job["status"] == "complete"


@pytest.mark.parametrize(
    ("marker", "job_status", "product_statuses", "codes"),
    [
        ("sandbox-error", "error", ["error", "error"], ["PRVCY-1021-400"] * 2),
        (
            "sandbox-partial",
            "complete",
            ["error", "complete"],
            ["PRVCY-1022-400", "PRVCY-6000-200"],
        ),
        ("sandbox-nodata", "complete", ["complete", "complete"], ["PRVCY-6052-200"] * 2),
        ("sandbox-stuck", "processing", ["processing", "processing"], [None, None]),
    ],
)
def test_markers_choose_the_outcome(
    sandbox, adobe_headers, jobs_body, marker, job_status, product_statuses, codes
):
    body = jobs_body()
    body["users"][0]["userIDs"][0]["value"] = f"{marker}@example.org"
    job = get_job(sandbox, adobe_headers, first_job_id(sandbox, adobe_headers, body))
    assert job["status"] == job_status
    responses = [p["productStatusResponse"] for p in job["productResponses"]]
    assert [r["status"] for r in responses] == product_statuses
    assert [r.get("responseMsgCode") for r in responses] == codes


def test_outcome_can_be_forced_through_the_control_api(sandbox, adobe_headers, jobs_body):
    job_id = first_job_id(sandbox, adobe_headers, jobs_body())
    reply = requests.post(
        f"{sandbox.url}/_sandbox/outcome", json={"id": job_id, "outcome": "error"}, timeout=TIMEOUT
    )
    assert reply.json() == {
        "id": job_id,
        "vendor": "adobe_privacy",
        "outcome": "error",
        "status": "error",
    }
    assert get_job(sandbox, adobe_headers, job_id)["status"] == "error"
    bad = requests.post(
        f"{sandbox.url}/_sandbox/outcome", json={"id": job_id, "outcome": "SENT"}, timeout=TIMEOUT
    )
    assert bad.status_code == 400


# --- Privacy Service: result ZIPs ---------------------------------------------------------


def download(url: str) -> zipfile.ZipFile:
    response = requests.get(url, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    return archive


def test_access_result_zip_has_one_folder_per_product(sandbox, adobe_headers, jobs_body):
    body = jobs_body(include=["analytics", "profileService", "aepDataLake", "identity"])
    job = get_job(sandbox, adobe_headers, first_job_id(sandbox, adobe_headers, body))
    assert job["downloadURL"].startswith(f"{sandbox.url}/adobe/download/{job['jobId']}.zip?")
    archive = download(job["downloadURL"])
    folders = {name.split("/")[0] for name in archive.namelist()}
    assert folders == {"Analytics", "Profile", "AdobeCloudPlatform", "Identity"}
    profile = json.loads(archive.read("Profile/profile.json"))
    assert profile["identityMap"]["email"] == [{"id": "ada@example.org"}]
    analytics = json.loads(archive.read("Analytics/data.json"))
    assert analytics["jobId"] == job["jobId"]
    assert {u["value"] for u in analytics["userIDs"]} == {"ada@example.org", "44363657679975868102"}


def test_download_needs_no_bearer_token_but_a_valid_signature(sandbox, adobe_headers, jobs_body):
    job = get_job(sandbox, adobe_headers, first_job_id(sandbox, adobe_headers, jobs_body()))
    tampered = job["downloadURL"].rsplit("sig=", 1)[0] + "sig=0000"
    assert requests.get(tampered, timeout=TIMEOUT).status_code == 403
    download(job["downloadURL"])
    [entry] = sandbox.requests("adobe_privacy", "download_result")[-1:]
    assert "Authorization" not in entry["headers"]
    assert "sig=***" in entry["path"]


def test_partial_and_nodata_zips(sandbox, adobe_headers, jobs_body):
    for marker, expected in (
        ("sandbox-partial", {"Profile/", "Profile/profile.json"}),
        ("sandbox-nodata", {"Analytics/", "Profile/"}),
    ):
        body = jobs_body()
        body["users"][0]["key"] = f"case-{marker}"
        job = get_job(sandbox, adobe_headers, first_job_id(sandbox, adobe_headers, body))
        assert set(download(job["downloadURL"]).namelist()) == expected


def test_no_download_url_for_deletes_or_unfinished_jobs(make_sandbox, headers_for, jobs_body):
    server = make_sandbox(speed=None)
    headers = headers_for(server)
    body = jobs_body()
    body["users"][0]["action"] = ["access", "delete"]
    access_id, delete_id = [j["jobId"] for j in create(server, headers, body).json()["jobs"]]
    assert "downloadURL" not in get_job(server, headers, access_id)
    server.advance(steps=2)
    assert "downloadURL" in get_job(server, headers, access_id)
    assert "downloadURL" not in get_job(server, headers, delete_id)


# --- Privacy Service: list ----------------------------------------------------------------


def list_jobs(sandbox, headers, **params) -> requests.Response:
    return requests.get(jobs_url(sandbox), params=params, headers=headers, timeout=TIMEOUT)


def test_list_filters_by_regulation_and_status_and_pages(sandbox, adobe_headers, jobs_body):
    users = [_user(key=f"K{i}") for i in range(5)]
    create(sandbox, adobe_headers, jobs_body(users=users))
    create(sandbox, adobe_headers, jobs_body(users=[_user(key="CCPA-1")], regulation="ccpa"))
    error_user = _user(key="E-sandbox-error")
    create(sandbox, adobe_headers, jobs_body(users=[error_user]))
    data = list_jobs(sandbox, adobe_headers, regulation="gdpr", page=0, size=4).json()
    assert data["totalRecords"] == 6
    assert len(data["jobDetails"]) == 4
    assert set(data["jobDetails"][0]) == {
        "jobId",
        "requestId",
        "userKey",
        "action",
        "status",
        "submittedBy",
        "createdDate",
        "lastModifiedDate",
    }
    second = list_jobs(sandbox, adobe_headers, regulation="gdpr", page=1, size=4).json()
    assert len(second["jobDetails"]) == 2
    errors = list_jobs(sandbox, adobe_headers, regulation="gdpr", status="error").json()
    assert [j["userKey"] for j in errors["jobDetails"]] == ["E-sandbox-error"]
    ccpa = list_jobs(sandbox, adobe_headers, regulation="ccpa").json()
    assert [j["userKey"] for j in ccpa["jobDetails"]] == ["CCPA-1"]


def test_list_date_range(sandbox, adobe_headers, jobs_body):
    create(sandbox, adobe_headers, jobs_body())
    today = sandbox.state.clock.utc_day()
    found = list_jobs(sandbox, adobe_headers, regulation="gdpr", fromDate=today, toDate=today)
    assert found.json()["totalRecords"] == 1
    old = list_jobs(
        sandbox, adobe_headers, regulation="gdpr", fromDate="2020-01-01", toDate="2020-01-31"
    )
    assert old.json()["totalRecords"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"regulation": "cpra_usa"},
        {"regulation": "gdpr", "size": 1001},
        {"regulation": "gdpr", "page": -1},
        {"regulation": "gdpr", "status": "done"},
        {"regulation": "gdpr", "fromDate": "2026-01-01"},
        {"regulation": "gdpr", "fromDate": "2026-01-01", "toDate": "2026-02-01"},
        {"regulation": "gdpr", "fromDate": "01/01/2026", "toDate": "01/02/2026"},
    ],
)
def test_list_validates_parameters(sandbox, adobe_headers, params):
    assert list_jobs(sandbox, adobe_headers, **params).status_code == 400


def test_list_accepts_thirty_days_and_max_size(sandbox, adobe_headers):
    response = list_jobs(
        sandbox,
        adobe_headers,
        regulation="gdpr",
        size=1000,
        fromDate="2026-01-01",
        toDate="2026-01-31",
    )
    assert response.status_code == 200
    assert response.json() == {"totalRecords": 0, "jobDetails": []}
