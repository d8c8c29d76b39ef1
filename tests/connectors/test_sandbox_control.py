"""Vendor sandbox: fault injection, counters, reset, clock, concurrency and lifecycle."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from connectors.sandbox import SandboxServer

TIMEOUT = 5


def control(sandbox, method: str, path: str, body: dict | None = None) -> requests.Response:
    return requests.request(method, f"{sandbox.url}/_sandbox/{path}", json=body, timeout=TIMEOUT)


def arm(sandbox, **fault) -> dict:
    response = control(sandbox, "POST", "faults", fault)
    assert response.status_code == 200, response.text
    return response.json()["faults"][-1]


def create(sandbox, headers, body, timeout: float = TIMEOUT) -> requests.Response:
    url = f"{sandbox.url}/adobe/privacy/jobs"
    return requests.post(url, json=body, headers=headers, timeout=timeout)


def id5_delete(sandbox, uid: str = "u1") -> requests.Response:
    url = f"{sandbox.url}/id5/partners/v1/173/privacy/requests/deletion?token=sandbox-id5-token"
    return requests.post(url, json={"jurisdiction": "GDPR", "partnerUid": uid}, timeout=TIMEOUT)


# --- faults -------------------------------------------------------------------------------


def test_5xx_fault_is_not_applied_and_is_consumed(sandbox, adobe_headers, jobs_body):
    arm(sandbox, vendor="adobe_privacy", operation="create_jobs", kind="5xx", status=502)
    failed = create(sandbox, adobe_headers, jobs_body())
    assert failed.status_code == 502
    assert "error_code" in failed.json()
    assert sandbox.state.privacy_jobs == {}
    assert create(sandbox, adobe_headers, jobs_body()).status_code == 202
    assert sandbox.count("adobe_privacy", "create_jobs") == 2


def test_429_with_and_without_retry_after(sandbox, adobe_headers, jobs_body):
    arm(sandbox, vendor="adobe_privacy", kind="429", retry_after=7)
    arm(sandbox, vendor="adobe_privacy", kind="429_no_retry_after")
    first, second = (create(sandbox, adobe_headers, jobs_body()) for _ in range(2))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert second.status_code == 429
    assert "Retry-After" not in second.headers
    assert sandbox.state.privacy_jobs == {}


def test_timeout_fault_waits_then_drops_without_applying(sandbox, adobe_headers, jobs_body):
    arm(sandbox, vendor="adobe_privacy", kind="timeout", delay=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        create(sandbox, adobe_headers, jobs_body(), timeout=0.3)
    time.sleep(1.0)
    assert sandbox.state.privacy_jobs == {}
    assert sandbox.requests("adobe_privacy")[-1]["outcome"] == "dropped"


def test_slow_fault_answers_late_but_answers(sandbox, adobe_headers, jobs_body):
    arm(sandbox, vendor="adobe_privacy", kind="slow", delay=0.4)
    started = time.monotonic()
    assert create(sandbox, adobe_headers, jobs_body()).status_code == 202
    assert time.monotonic() - started >= 0.4


def test_slow_requests_do_not_block_others(sandbox, adobe_headers, jobs_body):
    arm(sandbox, vendor="adobe_privacy", kind="slow", delay=1.5)
    slow = threading.Thread(target=create, args=(sandbox, adobe_headers, jobs_body()))
    slow.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert id5_delete(sandbox).ok
    assert time.monotonic() - started < 1.0
    slow.join()


def test_drop_before_applying(sandbox, adobe_headers, jobs_body):
    arm(sandbox, vendor="adobe_privacy", kind="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        create(sandbox, adobe_headers, jobs_body())
    assert sandbox.state.privacy_jobs == {}


def test_drop_after_applying_creates_the_job_but_loses_the_answer(
    sandbox, adobe_headers, jobs_body
):
    arm(sandbox, vendor="adobe_privacy", operation="create_jobs", kind="drop_after")
    with pytest.raises(requests.exceptions.ConnectionError):
        create(sandbox, adobe_headers, jobs_body())
    [job] = sandbox.state.privacy_jobs.values()
    listed = requests.get(
        f"{sandbox.url}/adobe/privacy/jobs",
        params={"regulation": "gdpr"},
        headers=adobe_headers,
        timeout=TIMEOUT,
    ).json()
    assert [j["userKey"] for j in listed["jobDetails"]] == [job.user_key]
    assert sandbox.requests("adobe_privacy", "create_jobs")[0]["outcome"] == "dropped"


def test_malformed_body_after_applying(sandbox, adobe_headers, jobs_body):
    arm(sandbox, vendor="adobe_privacy", kind="malformed")
    response = create(sandbox, adobe_headers, jobs_body())
    assert response.status_code == 202
    with pytest.raises(ValueError):
        response.json()
    assert len(sandbox.state.privacy_jobs) == 1


@pytest.mark.parametrize(
    ("kind", "status"),
    [("5xx", 503), ("429", 429)],
)
def test_id5_faults_have_id5_shaped_bodies(sandbox, kind, status):
    arm(sandbox, vendor="id5", kind=kind)
    response = id5_delete(sandbox)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"code", "type", "message"}
    assert sandbox.state.id5_requests == {}


def test_ims_faults(sandbox, headers_for):
    arm(sandbox, vendor="adobe_ims", kind="5xx", status=500)
    with pytest.raises(requests.HTTPError):
        headers_for(sandbox)
    assert headers_for(sandbox)["Authorization"].startswith("Bearer ")


def test_hygiene_faults(sandbox, adobe_headers):
    arm(sandbox, vendor="adobe_hygiene", operation="get_quota", kind="drop")
    url = f"{sandbox.url}/adobe/hygiene/quota"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, headers=adobe_headers, timeout=TIMEOUT)
    assert requests.get(url, headers=adobe_headers, timeout=TIMEOUT).ok


def test_faults_match_vendor_and_operation_and_count(sandbox, adobe_headers, jobs_body):
    arm(sandbox, vendor="*", operation="create_deletion", kind="5xx", count=2)
    assert create(sandbox, adobe_headers, jobs_body()).status_code == 202
    assert [id5_delete(sandbox, f"u{n}").status_code for n in range(3)] == [503, 503, 200]
    assert control(sandbox, "GET", "faults").json() == {"faults": []}


def test_unlimited_fault_until_cleared(sandbox):
    arm(sandbox, vendor="id5", kind="5xx", count=-1)
    assert [id5_delete(sandbox, f"u{n}").status_code for n in range(3)] == [503] * 3
    control(sandbox, "DELETE", "faults")
    assert id5_delete(sandbox).ok


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "explode"},
        {"kind": "5xx", "vendor": "acme"},
        {"kind": "5xx", "status": 404},
        {"kind": "drop", "count": 0},
    ],
)
def test_bad_faults_are_refused(sandbox, fault):
    assert control(sandbox, "POST", "faults", fault).status_code == 400


def test_delay_is_bounded_by_max_fault_delay(make_sandbox):
    server = make_sandbox(max_fault_delay=0.2)
    assert server.add_fault("timeout", delay=60)["delay"] == 0.2


# --- counters, requests, reset ------------------------------------------------------------


def test_counters_and_redacted_bodies(sandbox, adobe_headers, jobs_body):
    create(sandbox, adobe_headers, jobs_body())
    create(sandbox, adobe_headers, jobs_body(users=[]))
    id5_delete(sandbox)
    data = control(sandbox, "GET", "requests").json()
    assert data["counters"] == {
        "adobe_ims.token": 1,
        "adobe_privacy.create_jobs": 2,
        "id5.create_deletion": 1,
    }
    first = data["requests"][1]
    assert first["body"] == jobs_body()
    assert first["headers"]["Authorization"] == "Bearer ***"
    assert first["status"] == 202 and data["requests"][2]["status"] == 400
    token = adobe_headers["Authorization"].split()[1]
    assert token not in json.dumps(data)
    only = control(sandbox, "GET", "requests?vendor=id5").json()["requests"]
    assert [r["operation"] for r in only] == ["create_deletion"]
    assert control(sandbox, "GET", "counters").json()["counters"] == data["counters"]


def test_unknown_vendor_paths_are_counted_as_404(sandbox, adobe_headers):
    url = f"{sandbox.url}/adobe/privacy/consent"
    assert requests.get(url, headers=adobe_headers, timeout=TIMEOUT).status_code == 404
    assert sandbox.counters()["adobe_privacy.unknown"] == 1
    put = requests.put(f"{sandbox.url}/adobe/privacy/jobs", timeout=TIMEOUT)
    assert put.status_code == 405


def test_reset_forgets_everything(sandbox, adobe_headers, jobs_body):
    create(sandbox, adobe_headers, jobs_body())
    arm(sandbox, vendor="id5", kind="5xx")
    sandbox.advance(seconds=3600)
    assert control(sandbox, "POST", "reset").json() == {"ok": True}
    assert sandbox.state.privacy_jobs == {}
    assert sandbox.counters() == {}
    assert sandbox.state.faults.list() == []
    assert sandbox.state.clock.offset == 0
    assert create(sandbox, adobe_headers, jobs_body()).status_code == 401  # tokens forgotten


# --- clock and outcomes -------------------------------------------------------------------


def test_advance_one_job_only(make_sandbox, headers_for, jobs_body):
    server = make_sandbox(speed=None)
    headers = headers_for(server)
    users = [
        {
            "key": k,
            "action": ["delete"],
            "userIDs": [{"namespace": "email", "value": f"{k}@x.org", "type": "standard"}],
        }
        for k in ("a", "b")
    ]
    first, second = (
        j["jobId"] for j in create(server, headers, jobs_body(users=users)).json()["jobs"]
    )
    response = control(server, "POST", "advance", {"steps": 5, "id": first})
    assert response.json()["advanced"] == 1
    assert server.state.privacy_jobs[first].progress.status == "complete"
    assert server.state.privacy_jobs[second].progress.status == "submitted"
    assert control(server, "POST", "advance", {"steps": -1}).status_code == 400
    assert control(server, "POST", "advance", {"id": "nope", "steps": 1}).status_code == 404


def test_config_can_change_speed_at_runtime(make_sandbox, headers_for, jobs_body):
    server = make_sandbox(speed=None)
    headers = headers_for(server)
    job_id = create(server, headers, jobs_body()).json()["jobs"][0]["jobId"]
    response = control(server, "POST", "config", {"speed": 0})
    assert response.json()["config"]["speed"] == 0
    assert response.json()["config"]["client_secret"] == "***"
    job = requests.get(
        f"{server.url}/adobe/privacy/jobs/{job_id}", headers=headers, timeout=TIMEOUT
    ).json()
    assert job["status"] == "complete"
    assert control(server, "POST", "config", {"colour": "red"}).status_code == 400


def test_state_dump_and_health(sandbox, adobe_headers, jobs_body):
    create(sandbox, adobe_headers, jobs_body())
    id5_delete(sandbox)
    state = control(sandbox, "GET", "state").json()
    assert len(state["privacy_jobs"]) == 1 and len(state["id5_requests"]) == 1
    assert state["tokens"] == 1
    assert "sandbox-id5-token" not in json.dumps(state)
    assert control(sandbox, "GET", "health").json()["ok"] is True
    assert control(sandbox, "GET", "nope").status_code == 404


def test_outcome_for_id5_and_hygiene(sandbox, adobe_headers):
    request_id = id5_delete(sandbox).json()["id"]
    assert sandbox.set_outcome(request_id, "failed")["status"] == "FAILED"
    url = f"{sandbox.url}/adobe/hygiene/workorder"
    body = {
        "action": "delete_identity",
        "datasetId": "ALL",
        "identities": [{"namespace": {"code": "email"}, "id": "a@b.org"}],
    }
    order = requests.post(
        url, json=body, headers={**adobe_headers, "x-sandbox-name": "prod"}, timeout=TIMEOUT
    ).json()
    assert sandbox.set_outcome(order["workorderId"], "failed")["status"] == "failed"
    with pytest.raises(ValueError):
        sandbox.set_outcome("unknown", "failed")


# --- concurrency and lifecycle ------------------------------------------------------------


def test_concurrent_requests(sandbox, adobe_headers, jobs_body):
    def submit(n: int) -> int:
        body = jobs_body()
        body["users"][0]["key"] = f"K{n}"
        return create(sandbox, adobe_headers, body).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(submit, range(48)))
    assert statuses == [202] * 48
    assert sandbox.count("adobe_privacy", "create_jobs") == 48
    assert len({j.user_key for j in sandbox.state.privacy_jobs.values()}) == 48


def test_context_manager_stops_the_server():
    with SandboxServer(port=0) as server:
        url = server.url
        assert requests.get(f"{url}/_sandbox/health", timeout=TIMEOUT).ok
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{url}/_sandbox/health", timeout=TIMEOUT)


def test_stop_closes_kept_alive_connections():
    server = SandboxServer(port=0).start()
    session = requests.Session()
    assert session.get(f"{server.url}/_sandbox/health", timeout=TIMEOUT).ok
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"{server.url}/_sandbox/health", timeout=TIMEOUT)


def test_env_points_the_product_at_the_sandbox(sandbox):
    env = sandbox.env()
    assert env["ADOBE_IMS_TOKEN_URL"] == f"{sandbox.url}/adobe/ims/ims/token/v3"
    assert env["ADOBE_PRIVACY_BASE_URL"] == f"{sandbox.url}/adobe/privacy"
    assert env["ADOBE_HYGIENE_BASE_URL"] == f"{sandbox.url}/adobe/hygiene"
    assert env["ID5_BASE_URL"] == f"{sandbox.url}/id5"
    assert env["ID5_PARTNER_ID"] == "173"
    assert sandbox.url.startswith("http://127.0.0.1:")
