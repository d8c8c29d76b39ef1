"""Validation of Privacy Service requests, as the vendor documents it (docs/vendors.md).

Errors are RFC 7807-style "Problem Detail" bodies, the schema privacy-service.yaml names:
``{"errorType", "errorCode", "title", "detail"}``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from .catalog import (
    PRIVACY_ACTIONS,
    PRIVACY_STATUSES,
    PRODUCTS,
    REGULATIONS,
    RETIRED_REGULATIONS,
    STANDARD_NAMESPACES,
    USER_ID_TYPES,
    Product,
)
from .http import HttpError, Reply

MAX_USER_IDS = 9
MAX_LIST_SIZE = 1000
MAX_LIST_DAYS = 30
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TITLES = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 415: "Unsupported Media Type"}


def problem(status: int, detail: str) -> HttpError:
    body = {
        "errorType": "https://mcloud.io/client-error",
        "errorCode": status,
        "title": _TITLES.get(status, "Error"),
        "detail": detail,
    }
    return HttpError(Reply.json(status, body, content_type="application/problem+json"))


@dataclass
class UserSpec:
    key: str
    actions: list[str]
    user_ids: list[dict[str, Any]]


@dataclass
class JobsSpec:
    users: list[UserSpec]
    products: list[Product]
    regulation: str


def parse_create(body: Any, org_id: str, max_users: int) -> JobsSpec:
    """A validated ``POST /jobs`` body; raises a 400 problem naming the first fault."""
    if not isinstance(body, dict):
        raise problem(400, "Request body must be a JSON object")
    _check_company_contexts(body.get("companyContexts"), org_id)
    users = _users(body.get("users"), max_users)
    products = _products(body.get("include"))
    regulation = check_regulation(body.get("regulation"))
    _check_options(body)
    return JobsSpec(users, products, regulation)


def _check_company_contexts(contexts: Any, org_id: str) -> None:
    if not isinstance(contexts, list) or not contexts:
        raise problem(400, "companyContexts is required and must be a non-empty array")
    for context in contexts:
        if not isinstance(context, dict):
            raise problem(400, "companyContexts entries must be objects")
        # The docs spell the namespace both imsOrgID and imsOrgId.
        if context.get("namespace") in ("imsOrgID", "imsOrgId") and context.get("value") == org_id:
            return
    raise problem(
        400,
        "companyContexts must contain {namespace: imsOrgID, value: <your org>}"
        " matching x-gw-ims-org-id",
    )


def _users(users: Any, max_users: int) -> list[UserSpec]:
    if not isinstance(users, list) or not users:
        raise problem(400, "users is required and must be a non-empty array")
    if len(users) > max_users:
        raise problem(400, f"At most {max_users} users are allowed per request, got {len(users)}")
    return [_user(user, i) for i, user in enumerate(users)]


def _user(user: Any, index: int) -> UserSpec:
    where = f"users[{index}]"
    if not isinstance(user, dict):
        raise problem(400, f"{where} must be an object")
    key = user.get("key")
    if not isinstance(key, str) or not key.strip():
        raise problem(400, f"{where}.key is required")
    actions = user.get("action")
    if not isinstance(actions, list) or not actions:
        raise problem(400, f"{where}.action is required and must be a non-empty array")
    if any(a not in PRIVACY_ACTIONS for a in actions):
        raise problem(400, f"{where}.action values must be 'access' or 'delete'")
    ids = user.get("userIDs")
    if not isinstance(ids, list) or not ids:
        raise problem(400, f"{where}.userIDs is required and must be a non-empty array")
    if len(ids) > MAX_USER_IDS:
        raise problem(400, f"{where}: at most {MAX_USER_IDS} userIDs are allowed, got {len(ids)}")
    user_ids = [_user_id(uid, f"{where}.userIDs[{j}]") for j, uid in enumerate(ids)]
    return UserSpec(key, list(dict.fromkeys(actions)), user_ids)


def _user_id(uid: Any, where: str) -> dict[str, Any]:
    if not isinstance(uid, dict):
        raise problem(400, f"{where} must be an object")
    namespace, value, kind = uid.get("namespace"), uid.get("value"), uid.get("type")
    for name, field in (("namespace", namespace), ("value", value), ("type", kind)):
        if not isinstance(field, str) or not field.strip():
            raise problem(400, f"{where}.{name} is required")
    if kind not in USER_ID_TYPES:
        raise problem(400, f"{where}.type must be one of {sorted(USER_ID_TYPES)}")
    deleted = uid.get("isDeletedClientSide", False)
    if not isinstance(deleted, bool):
        raise problem(400, f"{where}.isDeletedClientSide must be a boolean")
    echoed: dict[str, Any] = {"namespace": namespace, "value": value, "type": kind}
    namespace_id = _namespace_id(namespace, kind, where)
    if namespace_id is not None:
        echoed["namespaceId"] = namespace_id
    echoed["isDeletedClientSide"] = deleted
    return echoed


def _namespace_id(namespace: str, kind: str, where: str) -> int | None:
    if kind == "standard":
        if namespace.lower() not in STANDARD_NAMESPACES:
            raise problem(
                400,
                f"Invalid Namespace: '{namespace}' ({where}) is not a standard "
                "namespace; a custom namespace must use type 'custom'",
            )
        return STANDARD_NAMESPACES[namespace.lower()]
    if kind == "namespaceId":
        if not namespace.isdigit():
            raise problem(400, f"Invalid Namespace: {where}.namespace must be a numeric id")
        return int(namespace)
    return None


def _products(include: Any) -> list[Product]:
    if not isinstance(include, list) or not include:
        raise problem(400, "include is required and must be a non-empty array of product codes")
    products: list[Product] = []
    for code in include:
        product = PRODUCTS.get(code.lower()) if isinstance(code, str) else None
        if product is None:
            raise problem(400, f"Invalid product code in include: {code!r}")
        if product not in products:
            products.append(product)
    return products


def check_regulation(regulation: Any) -> str:
    if not isinstance(regulation, str) or not regulation:
        raise problem(400, "regulation is required")
    code = regulation.lower()
    if code in RETIRED_REGULATIONS:
        raise problem(
            400,
            f"Regulation '{regulation}' is no longer supported since 2025-07-28;"
            f" use '{RETIRED_REGULATIONS[code]}'",
        )
    if code not in REGULATIONS:
        raise problem(400, f"Invalid regulation: '{regulation}'")
    return code


def _check_options(body: dict[str, Any]) -> None:
    if "expandIds" in body and not isinstance(body["expandIds"], bool):
        raise problem(400, "expandIds must be a boolean")
    if body.get("priority", "normal") not in ("normal", "low"):
        raise problem(400, "priority must be 'normal' or 'low'")
    if body.get("analyticsDeleteMethod", "anonymize") not in ("anonymize", "purge"):
        raise problem(400, "analyticsDeleteMethod must be 'anonymize' or 'purge'")
    if "mergePolicyId" in body and not isinstance(body["mergePolicyId"], str):
        raise problem(400, "mergePolicyId must be a string")


@dataclass
class ListQuery:
    regulation: str
    page: int
    size: int
    status: str | None
    from_date: dt.date | None
    to_date: dt.date | None


def parse_list(query: dict[str, str]) -> ListQuery:
    """``GET /jobs`` parameters; raises a 400 problem on the first bad one."""
    regulation = check_regulation(query.get("regulation"))
    page = _int_param(query, "page", 0, minimum=0)
    size = _int_param(query, "size", 100, minimum=1)
    if size > MAX_LIST_SIZE:
        raise problem(400, f"size must not exceed {MAX_LIST_SIZE}")
    status = query.get("status") or None
    if status is not None and status not in PRIVACY_STATUSES:
        raise problem(400, f"status must be one of {list(PRIVACY_STATUSES)}")
    from_date, to_date = _date_range(query.get("fromDate"), query.get("toDate"))
    return ListQuery(regulation, page, size, status, from_date, to_date)


def _int_param(query: dict[str, str], name: str, default: int, minimum: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise problem(400, f"{name} must be an integer") from exc
    if value < minimum:
        raise problem(400, f"{name} must be at least {minimum}")
    return value


def _date_range(start: str | None, end: str | None) -> tuple[dt.date | None, dt.date | None]:
    if not start and not end:
        return None, None
    if not start or not end:
        raise problem(400, "fromDate and toDate must be given together")
    try:
        if not (_DATE.fullmatch(start) and _DATE.fullmatch(end)):
            raise ValueError(start)
        from_date, to_date = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError as exc:
        raise problem(400, "fromDate and toDate must be dates as YYYY-MM-DD") from exc
    if to_date < from_date:
        raise problem(400, "toDate must not be before fromDate")
    if (to_date - from_date).days > MAX_LIST_DAYS:
        raise problem(400, f"fromDate and toDate must be at most {MAX_LIST_DAYS} days apart")
    return from_date, to_date
