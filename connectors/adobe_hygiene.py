"""Adobe Data Hygiene record delete (POST/GET /workorder).

Adobe states record deletes are for data cleansing and minimisation, NOT for GDPR/CCPA data
subject requests (docs/vendors.md, Adobe Data Hygiene): Privacy Desk offers it only
as a separate, explicit officer action. Facts below are from that section.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from cases.choices import JobStatus
from connectors.adobe_ims import AdobeApi, AdobeTokenProvider
from connectors.base import AttemptHook, AuthError, InvalidInput

log = logging.getLogger("connectors.adobe_hygiene")

HYGIENE_BASE_URL = "https://platform.adobe.io/data/core/hygiene"
# Older revisions of Adobe's work order page spell the action "delete_identity";
# the current one says "delete-identity" and answers "identity-delete" (docs/vendors.md).
DELETE_ACTION = "delete_identity"
MAX_IDENTITIES = 100_000  # per work order
TARGET_SERVICES = frozenset({"datalake", "identity", "profile", "ajo"})
PROCESSING_STATUSES = frozenset({"validated", "submitted", "ingested", "in-progress"})


@dataclass(frozen=True)
class NamespaceIds:
    """Identity values of one namespace (`code`, e.g. "email"). `ids` are personal data."""

    namespace: str
    ids: tuple[str, ...] = field(repr=False)

    def payload(self) -> dict[str, Any]:
        return {"namespace": {"code": self.namespace}, "ids": list(self.ids)}


@dataclass(frozen=True)
class ProductStatus:
    product: str
    status: str  # success | failure | waiting
    updated_at: datetime | None


@dataclass(frozen=True)
class WorkOrder:
    """A record delete work order; `status` normalised, `vendor_status` Adobe's own."""

    workorder_id: str
    status: JobStatus
    vendor_status: str
    action: str | None = None
    dataset_id: str | None = None
    display_name: str | None = None
    bundle_id: str | None = None
    operation_count: int | None = None
    target_services: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    products: tuple[ProductStatus, ...] = ()

    @property
    def failed_products(self) -> tuple[str, ...]:
        return tuple(p.product for p in self.products if p.status.lower() == "failure")


def work_order_status(vendor_status: str, products: Sequence[ProductStatus] = ()) -> JobStatus:
    """The one place work order statuses become a normalised JobStatus."""
    status = vendor_status.lower()
    if status == "received":
        return JobStatus.SUBMITTED
    if status == "failed":
        return JobStatus.ERROR
    if status == "completed":
        outcomes = {p.status.lower() for p in products}
        if "failure" not in outcomes:
            return JobStatus.COMPLETE
        return JobStatus.ERROR if outcomes == {"failure"} else JobStatus.PARTIAL
    if status not in PROCESSING_STATUSES:
        log.warning("Unknown work order status %r; treating it as processing", vendor_status)
    return JobStatus.PROCESSING


def parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        log.warning("Unreadable work order date %r", value)
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_work_order(data: dict[str, Any]) -> WorkOrder:
    products = tuple(
        ProductStatus(str(p.get("productName") or ""), str(p.get("productStatus") or ""),
                      parse_iso(p.get("createdAt")))
        for p in data.get("productStatusDetails") or () if isinstance(p, dict))
    vendor_status = str(data.get("status") or "")
    count = data.get("operationCount")
    return WorkOrder(
        workorder_id=str(data["workorderId"]),
        status=work_order_status(vendor_status, products),
        vendor_status=vendor_status,
        action=data.get("action"),
        dataset_id=data.get("datasetId"),
        display_name=data.get("displayName"),
        bundle_id=data.get("bundleId"),
        operation_count=count if isinstance(count, int) else None,
        target_services=tuple(data.get("targetServices") or ()),
        created_at=parse_iso(data.get("createdAt")),
        updated_at=parse_iso(data.get("updatedAt")),
        products=products,
    )


def validate_work_order(dataset_id: str, identities: Sequence[NamespaceIds],
                        display_name: str, target_services: Sequence[str] | None) -> None:
    if not dataset_id:
        raise InvalidInput("A record delete needs a dataset (ADOBE_HYGIENE_DATASET_ID or 'ALL')")
    if not display_name:
        raise InvalidInput("A record delete work order needs a display name")
    total = sum(len(group.ids) for group in identities)
    if total == 0 or any(not group.namespace or not group.ids for group in identities):
        raise InvalidInput("Every namespace of a record delete needs at least one identity")
    if total > MAX_IDENTITIES:
        raise InvalidInput(f"{total} identities exceed Adobe's {MAX_IDENTITIES:,} per work "
                           "order; split them into several work orders")
    unknown = set(target_services or ()) - TARGET_SERVICES
    if unknown:
        raise InvalidInput(f"Unknown target service(s) {', '.join(sorted(unknown))}; "
                           f"use {', '.join(sorted(TARGET_SERVICES))}")


class AdobeHygieneClient(AdobeApi):
    vendor = "adobe_hygiene"
    label = "Adobe Data Hygiene"

    def __init__(self, tokens: AdobeTokenProvider, *, sandbox_name: str,
                 base_url: str = HYGIENE_BASE_URL, session: requests.Session | None = None,
                 on_attempt: AttemptHook | None = None) -> None:
        if not sandbox_name:
            raise AuthError("Adobe Data Hygiene needs a sandbox: set ADOBE_SANDBOX_NAME",
                            code="not_configured")
        super().__init__(tokens, base_url, session=session, on_attempt=on_attempt)
        self.sandbox_name = sandbox_name

    def extra_headers(self) -> dict[str, str]:
        return {"x-sandbox-name": self.sandbox_name}  # required by Data Hygiene only

    def create_work_order(self, *, dataset_id: str, identities: Sequence[NamespaceIds],
                          display_name: str, description: str = "",
                          target_services: Sequence[str] | None = None) -> WorkOrder:
        """POST /workorder deleting `identities` from `dataset_id` (an id, "id1,id2" or "ALL")."""
        validate_work_order(dataset_id, identities, display_name, target_services)
        body: dict[str, Any] = {
            "action": DELETE_ACTION, "datasetId": dataset_id, "displayName": display_name,
            "description": description,
            "namespacesIdentities": [group.payload() for group in identities]}
        if target_services:
            body["targetServices"] = list(target_services)
        answer = self.call("POST", "/workorder", operation="create_work_order",
                           ok=(200, 201, 202), json=body)
        return self._parse(answer, "create_work_order")

    def get_work_order(self, workorder_id: str) -> WorkOrder:
        answer = self.call("GET", f"/workorder/{quote(workorder_id, safe='')}",
                           operation="get_work_order")
        return self._parse(answer, "get_work_order")

    def _parse(self, answer: Any, operation: str) -> WorkOrder:
        try:
            return parse_work_order(answer)
        except (KeyError, TypeError, AttributeError):
            raise self.malformed(operation, "no workorderId") from None
