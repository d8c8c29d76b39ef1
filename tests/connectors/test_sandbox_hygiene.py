"""Vendor sandbox: Adobe Data Hygiene record-delete work orders and quota."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests

TIMEOUT = 5


def order_body(**overrides) -> dict:
    body = {
        "action": "delete_identity",
        "datasetId": "7eab61f3e5c34810a49a1ab3",
        "displayName": "Minimisation run 12",
        "description": "Old loyalty records",
        "namespacesIdentities": [
            {"namespace": {"code": "email"}, "ids": ["a@example.org", "b@example.org"]},
            {"namespace": {"code": "ecid"}, "ids": ["443636"]},
        ],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def hygiene_headers(adobe_headers) -> dict[str, str]:
    return {**adobe_headers, "x-sandbox-name": "prod"}


def post_order(sandbox, headers, body) -> requests.Response:
    url = f"{sandbox.url}/adobe/hygiene/workorder"
    return requests.post(url, json=body, headers=headers, timeout=TIMEOUT)


def get_order(sandbox, headers, order_id: str) -> requests.Response:
    url = f"{sandbox.url}/adobe/hygiene/workorder/{order_id}"
    return requests.get(url, headers=headers, timeout=TIMEOUT)


def is_iso(value: str) -> bool:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def test_create_work_order_returns_201_with_the_documented_fields(sandbox, hygiene_headers):
    response = post_order(sandbox, hygiene_headers, order_body())
    assert response.status_code == 201
    data = response.json()
    assert re.fullmatch(r"DI-[0-9a-f-]{36}", data["workorderId"])
    assert data["bundleId"].startswith("BN-")
    assert data["orgId"] == "SANDBOX@AdobeOrg"
    assert data["action"] == "delete_identity"
    assert data["status"] == "received"
    assert data["operationCount"] == 2
    assert data["targetServices"] == ["datalake", "identity", "profile"]
    assert data["datasetId"] == "7eab61f3e5c34810a49a1ab3"
    assert data["displayName"] == "Minimisation run 12"
    assert data["createdBy"] == "sandbox-client@AdobeID"
    assert is_iso(data["createdAt"]) and is_iso(data["updatedAt"])


def test_flat_identities_and_adobe_spelling_of_ids_are_accepted(sandbox, hygiene_headers):
    flat = order_body(
        namespacesIdentities=None,
        identities=[{"namespace": {"code": "email"}, "id": "a@example.org"}],
    )
    assert post_order(sandbox, hygiene_headers, flat).status_code == 201
    spelled = order_body(namespacesIdentities=[{"namespace": {"code": "email"}, "IDs": ["x"]}])
    assert post_order(sandbox, hygiene_headers, spelled).status_code == 201


def test_work_order_requires_the_sandbox_name_header(sandbox, adobe_headers):
    response = post_order(sandbox, adobe_headers, order_body())
    assert response.status_code == 400
    assert "x-sandbox-name" in response.json()["detail"]


def test_work_order_requires_a_valid_token(sandbox, hygiene_headers):
    headers = {**hygiene_headers, "Authorization": "Bearer expired"}
    assert post_order(sandbox, headers, order_body()).status_code == 401


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"identities": [{"namespace": {"code": "email"}, "id": "x"}]}, "not both"),
        ({"namespacesIdentities": None}, "is required"),
        ({"namespacesIdentities": []}, "At least one identity"),
        ({"action": "delete_dataset"}, "action"),
        ({"datasetId": None}, "datasetId"),
        ({"targetServices": ["crm"]}, "Unknown targetServices"),
        ({"namespacesIdentities": [{"namespace": {}, "ids": ["x"]}]}, "namespace.code"),
    ],
)
def test_work_order_validation(sandbox, hygiene_headers, overrides, detail):
    response = post_order(sandbox, hygiene_headers, order_body(**overrides))
    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert sandbox.state.workorders == {}


def test_more_than_100000_identities_is_refused(sandbox, hygiene_headers):
    ids = [f"id-{i}" for i in range(100_001)]
    body = order_body(namespacesIdentities=[{"namespace": {"code": "email"}, "ids": ids}])
    response = post_order(sandbox, hygiene_headers, body)
    assert response.status_code == 400
    assert "100000" in response.json()["detail"]
    body["namespacesIdentities"][0]["ids"] = ids[:100_000]
    assert post_order(sandbox, hygiene_headers, body).status_code == 201


def test_work_order_walks_its_statuses(make_sandbox, headers_for):
    server = make_sandbox(speed=None)
    headers = {**headers_for(server), "x-sandbox-name": "prod"}
    order_id = post_order(server, headers, order_body()).json()["workorderId"]
    seen = []
    for _ in range(5):
        data = get_order(server, headers, order_id).json()
        seen.append((data["status"], [p["productStatus"] for p in data["productStatusDetails"]]))
        server.advance(steps=1)
    assert seen == [
        ("received", ["waiting"] * 3),
        ("validated", ["waiting"] * 3),
        ("submitted", ["waiting"] * 3),
        ("ingested", ["success", "success", "waiting"]),
        ("completed", ["success"] * 3),
    ]
    names = [
        p["productName"]
        for p in get_order(server, headers, order_id).json()["productStatusDetails"]
    ]
    assert names == ["Data Management", "Identity Service", "Profile Service"]


def test_failed_marker_ends_in_failed(sandbox, hygiene_headers):
    body = order_body(displayName="sandbox-failed run")
    order_id = post_order(sandbox, hygiene_headers, body).json()["workorderId"]
    data = get_order(sandbox, hygiene_headers, order_id).json()
    assert data["status"] == "failed"
    assert "failure" in [p["productStatus"] for p in data["productStatusDetails"]]


def test_work_orders_are_scoped_to_their_sandbox_and_unknown_is_404(sandbox, hygiene_headers):
    order_id = post_order(sandbox, hygiene_headers, order_body()).json()["workorderId"]
    other = {**hygiene_headers, "x-sandbox-name": "dev"}
    assert get_order(sandbox, other, order_id).status_code == 404
    assert get_order(sandbox, hygiene_headers, "DI-nope").status_code == 404
    assert get_order(sandbox, hygiene_headers, order_id).status_code == 200


def test_quota_counts_submitted_identities(sandbox, hygiene_headers):
    post_order(sandbox, hygiene_headers, order_body())
    url = f"{sandbox.url}/adobe/hygiene/quota"
    quotas = requests.get(url, headers=hygiene_headers, timeout=TIMEOUT).json()["quotas"]
    by_name = {q["name"]: q for q in quotas}
    assert by_name["dailyConsumerDeleteIdentitiesQuota"]["consumed"] == 3
    assert by_name["monthlyConsumerDeleteIdentitiesQuota"]["quota"] == 2_000_000
    one = requests.get(
        url,
        params={"quotaType": "datasetExpirationQuota"},
        headers=hygiene_headers,
        timeout=TIMEOUT,
    ).json()
    assert [q["name"] for q in one["quotas"]] == ["datasetExpirationQuota"]


def test_daily_quota_is_enforced_with_retry_after(make_sandbox, headers_for):
    server = make_sandbox(hygiene_daily_quota=4)
    headers = {**headers_for(server), "x-sandbox-name": "prod"}
    assert post_order(server, headers, order_body()).status_code == 201
    refused = post_order(server, headers, order_body())
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 86401
