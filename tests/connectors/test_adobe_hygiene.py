"""Adobe Data Hygiene record delete work orders."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses

from cases.choices import JobStatus
from connectors.adobe_hygiene import (
    HYGIENE_BASE_URL,
    AdobeHygieneClient,
    NamespaceIds,
    ProductStatus,
    work_order_status,
)
from connectors.adobe_ims import IMS_TOKEN_URL, AdobeCredentials, AdobeTokenProvider, MemoryCache
from connectors.base import AuthError, InvalidInput, PermanentError, TransientError, make_session

DATA = Path(__file__).resolve().parent.parent / "data"
WORKORDER = f"{HYGIENE_BASE_URL}/workorder"
ORG = "8B1F2AC143214567890ABCDE@AdobeOrg"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def tokens() -> AdobeTokenProvider:
    creds = AdobeCredentials(client_id="client-abc", client_secret="secret-xyz-123", org_id=ORG)
    return AdobeTokenProvider(creds, MemoryCache(), session=make_session(backoff_factor=0))


@pytest.fixture
def client() -> AdobeHygieneClient:
    return AdobeHygieneClient(tokens(), sandbox_name="prod",
                              session=make_session(backoff_factor=0))


@pytest.fixture(autouse=True)
def ims() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(IMS_TOKEN_URL, json={"access_token": "tok-1", "expires_in": 86399})
        yield mock


def hygiene_calls(mock: responses.RequestsMock) -> list[Any]:
    return [c for c in mock.calls if c.request.url.startswith(HYGIENE_BASE_URL)]


def test_create_work_order_sends_sandbox_header_and_body(client: AdobeHygieneClient,
                                                         ims: responses.RequestsMock) -> None:
    ims.post(WORKORDER, status=201, json=load("adobe_hygiene_workorder_created.json"))
    order = client.create_work_order(
        dataset_id="7eab61f3e5c34810a49a1ab3", display_name="Loyalty Identity Delete Request",
        description="Minimisation run 2035-06", target_services=["datalake", "profile"],
        identities=[NamespaceIds("email", ("alice@example.com", "bob@example.com")),
                    NamespaceIds("ecid", ("443636576799758681021090721276",))])
    request = hygiene_calls(ims)[0].request
    assert request.headers["x-sandbox-name"] == "prod"
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert request.headers["x-api-key"] == "client-abc"
    assert request.headers["x-gw-ims-org-id"] == ORG
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "action": "delete_identity",
        "datasetId": "7eab61f3e5c34810a49a1ab3",
        "displayName": "Loyalty Identity Delete Request",
        "description": "Minimisation run 2035-06",
        "namespacesIdentities": [
            {"namespace": {"code": "email"}, "ids": ["alice@example.com", "bob@example.com"]},
            {"namespace": {"code": "ecid"}, "ids": ["443636576799758681021090721276"]}],
        "targetServices": ["datalake", "profile"],
    }
    assert order.workorder_id == "DI-95c40d52-6229-44e8-881b-fc7f072de63d"
    assert order.status == JobStatus.SUBMITTED and order.vendor_status == "received"
    assert order.created_at == datetime(2035, 6, 2, 9, 21, tzinfo=UTC)
    assert order.target_services == ("profile", "datalake", "identity")
    assert order.operation_count == 1


def test_create_without_target_services_leaves_them_out(client: AdobeHygieneClient,
                                                         ims: responses.RequestsMock) -> None:
    ims.post(WORKORDER, status=201, json=load("adobe_hygiene_workorder_created.json"))
    client.create_work_order(dataset_id="ALL", display_name="Cleanup",
                             identities=[NamespaceIds("email", ("a@example.com",))])
    assert "targetServices" not in json.loads(hygiene_calls(ims)[0].request.body)


def test_get_work_order_reads_product_status_details(client: AdobeHygieneClient,
                                                     ims: responses.RequestsMock) -> None:
    body = load("adobe_hygiene_workorder_status.json")
    ims.get(f"{WORKORDER}/{body['workorderId']}", json=body)
    order = client.get_work_order(body["workorderId"])
    assert hygiene_calls(ims)[0].request.headers["x-sandbox-name"] == "prod"
    assert order.status == JobStatus.COMPLETE
    assert [(p.product, p.status) for p in order.products] == [
        ("Data Management", "success"), ("Identity Service", "success"),
        ("Profile Service", "waiting")]
    assert order.products[0].updated_at == datetime(2022, 8, 8, 16, 51, 31, 535872, tzinfo=UTC)
    assert order.failed_products == ()


def _products(*statuses: str) -> list[ProductStatus]:
    return [ProductStatus(f"P{n}", status, None) for n, status in enumerate(statuses)]


@pytest.mark.parametrize(
    ("vendor_status", "products", "expected"),
    [
        ("received", [], JobStatus.SUBMITTED),
        ("validated", [], JobStatus.PROCESSING),
        ("submitted", [], JobStatus.PROCESSING),
        ("ingested", _products("success", "waiting"), JobStatus.PROCESSING),
        ("in-progress", [], JobStatus.PROCESSING),
        ("ingested", _products("failure", "waiting"), JobStatus.PROCESSING),
        ("completed", _products("success", "success"), JobStatus.COMPLETE),
        ("completed", _products("success", "failure"), JobStatus.PARTIAL),
        ("completed", _products("failure", "failure"), JobStatus.ERROR),
        ("failed", _products("failure", "success"), JobStatus.ERROR),
    ],
)
def test_work_order_statuses_map_to_normalised_status(
        vendor_status: str, products: list[ProductStatus], expected: JobStatus) -> None:
    assert work_order_status(vendor_status, products) == expected


def test_more_than_100000_identities_are_refused(client: AdobeHygieneClient) -> None:
    ids = tuple(f"user{n}@example.com" for n in range(60_000))
    with pytest.raises(InvalidInput, match="100,000"):
        client.create_work_order(dataset_id="ds", display_name="Cleanup",
                                 identities=[NamespaceIds("email", ids),
                                             NamespaceIds("email2", ids)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset_id": ""}, "needs a dataset"),
        ({"display_name": ""}, "display name"),
        ({"identities": []}, "at least one identity"),
        ({"identities": [NamespaceIds("email", ())]}, "at least one identity"),
        ({"target_services": ["warehouse"]}, "Unknown target service"),
    ],
)
def test_invalid_work_orders_are_refused_before_sending(
        client: AdobeHygieneClient, kwargs: dict[str, Any], message: str) -> None:
    values = {"dataset_id": "ds", "display_name": "Cleanup",
              "identities": [NamespaceIds("email", ("a@example.com",))], **kwargs}
    with pytest.raises(InvalidInput, match=message):
        client.create_work_order(**values)


def test_sandbox_name_is_required() -> None:
    with pytest.raises(AuthError, match="ADOBE_SANDBOX_NAME"):
        AdobeHygieneClient(tokens(), sandbox_name="")


def test_aep_error_body_becomes_an_actionable_message(client: AdobeHygieneClient,
                                                      ims: responses.RequestsMock) -> None:
    ims.post(WORKORDER, status=400, json=load("adobe_hygiene_error_400.json"))
    with pytest.raises(PermanentError) as caught:
        client.create_work_order(dataset_id="ds", display_name="Cleanup",
                                 identities=[NamespaceIds("email", ("a@example.com",))])
    assert caught.value.message.startswith(
        "Adobe Data Hygiene rejected the request (create_work_order): Bad Request: "
        "Header x-sandbox-name is required (HTTP 400)")


def test_hygiene_outage_on_create_is_transient_and_not_applied(
        client: AdobeHygieneClient, ims: responses.RequestsMock) -> None:
    ims.post(WORKORDER, status=503, body="Service Unavailable")
    with pytest.raises(TransientError) as caught:
        client.create_work_order(dataset_id="ds", display_name="Cleanup",
                                 identities=[NamespaceIds("email", ("a@example.com",))])
    # Adobe answered 503: no work order was created, so it is retried, not reconciled.
    assert (caught.value.retryable, caught.value.maybe_sent) == (True, False)
    assert len(hygiene_calls(ims)) == 1
