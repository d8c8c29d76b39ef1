"""Adobe Data Hygiene record delete: ``POST /workorder``, ``GET /workorder/{id}``, ``GET /quota``.

Error bodies are AEP-style ``{"type", "title", "status", "detail"}``; the shape is unconfirmed
(docs/vendors.md, Adobe Data Hygiene).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from .adobe import check_gateway, require_json_body, submitted_by
from .catalog import HYGIENE_ACTIONS, HYGIENE_DEFAULT_SERVICES, HYGIENE_SERVICES
from .http import HttpError, Reply, Request
from .progress import Progress, iso_date, utc
from .state import SandboxState, Workorder

PATH = ["received", "validated", "submitted", "ingested", "completed"]


def hygiene_error(status: int, detail: str, headers: dict[str, str] | None = None) -> HttpError:
    body = {
        "type": f"https://ns.adobe.com/aep/errors/HYGN-1000-{status}",
        "title": "Request rejected",
        "status": status,
        "detail": detail,
    }
    return HttpError(Reply.json(status, body, headers=headers))


def _sandbox_name(req: Request) -> str:
    name = req.header("x-sandbox-name")
    if not name:
        raise hygiene_error(400, "Header x-sandbox-name is required")
    return name


def create_workorder(state: SandboxState, req: Request) -> Reply:
    client_id = check_gateway(state, req)
    sandbox_name = _sandbox_name(req)
    body = require_json_body(req, hygiene_error)
    if not isinstance(body, dict):
        raise hygiene_error(400, "Request body must be a JSON object")
    groups = _identity_groups(body)
    count = sum(len(ids) for ids in groups.values())
    if count > state.config.hygiene_max_identities:
        raise hygiene_error(
            400,
            f"At most {state.config.hygiene_max_identities} identities "
            f"are allowed per work order, got {count}",
        )
    _consume_quota(state, count)
    order = _new_order(state, body, groups, sandbox_name, client_id)
    state.workorders[order.workorder_id] = order
    return Reply.json(201, _order_body(order))


def _identity_groups(body: dict[str, Any]) -> dict[str, list[str]]:
    """Identity values per namespace code, from namespacesIdentities or identities."""
    if body.get("action") not in HYGIENE_ACTIONS:
        raise hygiene_error(400, "action must be 'delete_identity'")
    if not isinstance(body.get("datasetId"), str) or not body["datasetId"].strip():
        raise hygiene_error(400, "datasetId is required (a dataset id, ids joined by ',' or ALL)")
    _check_services(body.get("targetServices", HYGIENE_DEFAULT_SERVICES))
    grouped, flat = body.get("namespacesIdentities"), body.get("identities")
    if grouped is not None and flat is not None:
        raise hygiene_error(400, "Use either namespacesIdentities or identities, not both")
    if grouped is None and flat is None:
        raise hygiene_error(400, "namespacesIdentities or identities is required")
    groups = _from_grouped(grouped) if grouped is not None else _from_flat(flat)
    if not groups:
        raise hygiene_error(400, "At least one identity is required")
    return groups


def _check_services(services: Any) -> None:
    if not isinstance(services, list) or not services:
        raise hygiene_error(400, "targetServices must be a non-empty array")
    unknown = [s for s in services if s not in HYGIENE_SERVICES]
    if unknown:
        raise hygiene_error(
            400, f"Unknown targetServices {unknown}; allowed: {sorted(HYGIENE_SERVICES)}"
        )


def _namespace_code(item: Any, where: str) -> str:
    namespace = item.get("namespace") if isinstance(item, dict) else None
    code = namespace.get("code") if isinstance(namespace, dict) else None
    if not isinstance(code, str) or not code:
        raise hygiene_error(400, f"{where}.namespace.code is required")
    return code


def _from_grouped(items: Any) -> dict[str, list[str]]:
    if not isinstance(items, list):
        raise hygiene_error(400, "namespacesIdentities must be an array")
    groups: dict[str, list[str]] = {}
    for i, item in enumerate(items):
        code = _namespace_code(item, f"namespacesIdentities[{i}]")
        # The contract spells the list `ids`; Adobe's examples spell it `IDs`.
        ids = item.get("ids", item.get("IDs"))
        if not isinstance(ids, list) or not ids or not all(isinstance(v, str) for v in ids):
            raise hygiene_error(400, f"namespacesIdentities[{i}].ids must be a non-empty array")
        groups.setdefault(code, []).extend(ids)
    return groups


def _from_flat(items: Any) -> dict[str, list[str]]:
    if not isinstance(items, list):
        raise hygiene_error(400, "identities must be an array")
    groups: dict[str, list[str]] = {}
    for i, item in enumerate(items):
        code = _namespace_code(item, f"identities[{i}]")
        if not isinstance(item.get("id"), str) or not item["id"]:
            raise hygiene_error(400, f"identities[{i}].id is required")
        groups.setdefault(code, []).append(item["id"])
    return groups


def _consume_quota(state: SandboxState, count: int) -> None:
    moment = utc(state.now())
    day, month = f"day|{moment.date()}", f"month|{moment:%Y-%m}"
    if state.hygiene_usage[day] + count > state.config.hygiene_daily_quota:
        midnight = dt.datetime.combine(
            moment.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC
        )
        wait = str(int((midnight - moment).total_seconds()) + 1)
        raise hygiene_error(429, "Daily identity quota exceeded", {"Retry-After": wait})
    if state.hygiene_usage[month] + count > state.config.hygiene_monthly_quota:
        raise hygiene_error(429, "Monthly identity quota exceeded")
    state.hygiene_usage[day] += count
    state.hygiene_usage[month] += count


def _new_order(
    state: SandboxState,
    body: dict[str, Any],
    groups: dict[str, list[str]],
    sandbox_name: str,
    client_id: str,
) -> Workorder:
    texts = [str(body.get("displayName", "")), str(body.get("description", ""))]
    texts += [v for ids in groups.values() for v in ids]
    failed = any("sandbox-failed" in text.lower() for text in texts)
    return Workorder(
        workorder_id=f"DI-{uuid.uuid4()}",
        bundle_id=f"BN-{uuid.uuid4()}",
        org_id=state.config.org_id,
        sandbox_name=sandbox_name,
        action=body["action"],
        dataset_id=body["datasetId"],
        display_name=str(body.get("displayName", "")),
        description=str(body.get("description", "")),
        target_services=list(body.get("targetServices", HYGIENE_DEFAULT_SERVICES)),
        operation_count=len(groups),
        identity_count=sum(len(ids) for ids in groups.values()),
        created_by=submitted_by(client_id),
        outcome="failed" if failed else "completed",
        progress=Progress(path_for("failed" if failed else "completed"), created=state.now()),
    )


def path_for(outcome: str) -> list[str]:
    return [*PATH[:-1], outcome]


def _order_body(order: Workorder) -> dict[str, Any]:
    return {
        "workorderId": order.workorder_id,
        "orgId": order.org_id,
        "bundleId": order.bundle_id,
        "action": order.action,
        "createdAt": iso_date(order.progress.created),
        "updatedAt": iso_date(order.progress.modified),
        "operationCount": order.operation_count,
        "targetServices": order.target_services,
        "status": order.progress.status,
        "createdBy": order.created_by,
        "datasetId": order.dataset_id,
        "displayName": order.display_name,
        "description": order.description,
    }


def get_workorder(state: SandboxState, req: Request) -> Reply:
    check_gateway(state, req)
    sandbox_name = _sandbox_name(req)
    order = state.workorders.get(req.params["workorder_id"])
    if order is None or order.sandbox_name != sandbox_name:
        raise hygiene_error(404, f"Work order {req.params['workorder_id']} not found")
    state.refresh(order.progress)
    body = _order_body(order)
    body["productStatusDetails"] = _product_details(order)
    return Reply.json(200, body)


def _product_details(order: Workorder) -> list[dict[str, Any]]:
    step, services = order.progress.step, order.target_services
    details = []
    for i, service in enumerate(services):
        if order.progress.status == "failed":
            status = "failure" if i == 0 else "success"
        elif step >= 4 or (step == 3 and i < (len(services) + 1) // 2):
            status = "success"
        else:
            status = "waiting"
        details.append(
            {
                "productName": HYGIENE_SERVICES[service],
                "productStatus": status,
                "createdAt": iso_date(order.progress.modified),
            }
        )
    return details


def get_quota(state: SandboxState, req: Request) -> Reply:
    check_gateway(state, req)
    moment = utc(state.now())
    day = state.hygiene_usage[f"day|{moment.date()}"]
    month = state.hygiene_usage[f"month|{moment:%Y-%m}"]
    quotas = [
        _quota("datasetExpirationQuota", "Concurrently active dataset expirations.", 0, 50),
        _quota(
            "dailyConsumerDeleteIdentitiesQuota",
            "Identities deleted in work orders today.",
            day,
            state.config.hygiene_daily_quota,
        ),
        _quota(
            "monthlyConsumerDeleteIdentitiesQuota",
            "Identities deleted this month.",
            month,
            state.config.hygiene_monthly_quota,
        ),
        _quota("monthlyUpdatedFieldIdentitiesQuota", "Identities updated this month.", 0, 0),
    ]
    wanted = req.query.get("quotaType")
    if wanted:
        quotas = [q for q in quotas if q["name"] == wanted]
    return Reply.json(200, {"quotas": quotas})


def _quota(name: str, description: str, consumed: int, quota: int) -> dict[str, Any]:
    return {"name": name, "description": description, "consumed": consumed, "quota": quota}
