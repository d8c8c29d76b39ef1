"""Adobe Experience Platform Privacy Service: create access/delete jobs, read and list them.

Facts and quirks from docs/vendors.md, Adobe Privacy Service (Adobe's privacy jobs guide,
API appendix, troubleshooting guide, Journey Optimizer privacy page and the OpenAPI reference).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import requests

from cases.choices import (
    ADOBE_STANDARD_NAMESPACES,
    MAX_IDENTITIES_PER_USER,
    Action,
    IdentityType,
    JobStatus,
    regulation_error,
)
from connectors.adobe_ims import AdobeApi, AdobeTokenProvider
from connectors.base import (
    AttemptHook,
    AuthError,
    ConnectorError,
    InvalidInput,
    RateLimited,
)

log = logging.getLogger("connectors.adobe_privacy")

PRIVACY_BASE_URL = "https://platform.adobe.io/data/core/privacy"
MAX_USERS_PER_REQUEST = 1000
MAX_LIST_SIZE = 1000
MAX_LIST_JOBS = 1000  # GET /jobs returns at most 1000 jobs whatever the paging
MAX_WINDOW_DAYS = 30
PRODUCT_CODES = frozenset({
    "adcloud", "analytics", "audiencemanager", "campaign", "aepdatalake", "adobecloudplatform",
    "profileservice", "primetimeauthentication", "target", "crs", "cjm", "identity", "marketo",
    "marketomeasure",
})
# Journey Optimizer (docs/vendors.md [JO-PRIVACY]): a CJM delete must also go to these upstream
# services, otherwise the CJM job stays "processing" forever. `aepDataLake` is the newer name of
# AdobeCloudPlatform.
CJM_UPSTREAM = ("profileService", "AdobeCloudPlatform", "identity")
PRODUCT_ALIASES = {"aepdatalake": "adobecloudplatform"}
JOB_STATUSES = frozenset({"submitted", "processing", "complete", "error"})
PRIORITIES = frozenset({"normal", "low"})
ANALYTICS_DELETE_METHODS = frozenset({"anonymize", "purge"})
# responseMsgCode values (error-codes.md): success, not applicable, user IDs not found.
SUCCESS_CODES = frozenset({"6000-200", "6051-200", "6052-200"})
PARTIAL_CODES = frozenset({"6054-200"})
# What each responseMsgCode means (error-codes.md), for the reasons officers read.
RESULT_CODE_MEANINGS = {
    "1000-400": "data not in the required format",
    "1001-400": "organisation not provisioned",
    "1010-400": "access and permissions required",
    "1020-400": "upload or archive failure (re-upload)",
    "1021-400": "job failure",
    "1022-400": "data access failure",
    "1023-400": "dataset ids not found",
    "1024-400": "unexpected error",
    "1030-400": "document rate limit exceeded",
    "1040-400": "customer-managed key revoked",
    "6000-200": "success",
    "6051-200": "not provisioned for this product (not applicable)",
    "6052-200": "user ids not found",
    "6053-200": "invalid namespace",
    "6054-200": "partially completed",
}
# "10/02/2019 08:25 PM GMT" (MM/dd/yyyy hh:mm a GMT): not ISO 8601 (privacy-jobs.md).
_ADOBE_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}) ([AP]M) GMT", re.I)


# --------------------------------------------------------------------------- request values


@dataclass(frozen=True)
class UserID:
    """One identity of a user. `value` is personal data: kept out of reprs."""

    namespace: str
    value: str = field(repr=False)
    type: str = IdentityType.STANDARD
    is_deleted_client_side: bool | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"namespace": self.namespace, "value": self.value,
                                "type": str(self.type)}
        if self.is_deleted_client_side is not None:
            data["isDeletedClientSide"] = self.is_deleted_client_side
        return data


@dataclass(frozen=True)
class PrivacyUser:
    """One entry of `users`: Adobe makes one job per (key, action). Use the case reference as
    `key` so jobs can be found again (GET /jobs echoes it as userKey)."""

    key: str
    actions: tuple[str, ...]
    user_ids: tuple[UserID, ...]

    def payload(self) -> dict[str, Any]:
        return {"key": self.key, "action": [str(a) for a in self.actions],
                "userIDs": [uid.payload() for uid in self.user_ids]}


@dataclass(frozen=True)
class JobOptions:
    """Optional request fields (privacy-jobs.md); None means not sent."""

    expand_ids: bool | None = None  # Analytics
    priority: str | None = None  # normal | low
    analytics_delete_method: str | None = None  # anonymize | purge (older docs)
    merge_policy_id: str | None = None  # profileService

    def payload(self) -> dict[str, Any]:
        fields = {"expandIds": self.expand_ids, "priority": self.priority,
                  "analyticsDeleteMethod": self.analytics_delete_method,
                  "mergePolicyId": self.merge_policy_id}
        return {name: value for name, value in fields.items() if value is not None}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CreatedJob:
    job_id: str
    key: str | None
    action: str | None


@dataclass(frozen=True)
class CreatedJobs:
    """What one POST /jobs created. `added_products` lists products added by the CJM rule, for
    the case's audit trail."""

    request_id: str | None
    total_records: int | None
    jobs: tuple[CreatedJob, ...]
    include: tuple[str, ...]
    added_products: tuple[str, ...]


@dataclass(frozen=True)
class BatchOutcome:
    """One request of `submit_jobs`: its users' keys and either `result` or `error`."""

    keys: tuple[str, ...]
    include: tuple[str, ...]
    added_products: tuple[str, ...]
    result: CreatedJobs | None = None
    error: ConnectorError | None = None


@dataclass(frozen=True)
class ProductResponse:
    """One product's answer inside a job. `code` is the result code without "PRVCY-"."""

    product: str
    status: str
    code: str | None
    message: str | None
    detail: str | None
    retry_count: int | None
    processed_at: datetime | None


@dataclass(frozen=True)
class PrivacyJob:
    """A job as Adobe reports it; `status` is normalised, `vendor_status` is Adobe's own.
    `download_url` (complete access jobs) leads to personal data: never log it."""

    job_id: str
    status: JobStatus
    vendor_status: str
    request_id: str | None = None
    user_key: str | None = None
    action: str | None = None
    regulation: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    products: tuple[ProductResponse, ...] = ()
    child_job_ids: tuple[str, ...] = ()
    download_url: str | None = field(default=None, repr=False)

    @property
    def result_codes(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.products if p.code)


@dataclass(frozen=True)
class JobList:
    """GET /jobs, every page walked. `complete` is False when Adobe reported more jobs than it
    returned (it returns at most 1000): narrow the window to see the rest."""

    total_records: int
    jobs: tuple[PrivacyJob, ...]
    complete: bool


# --------------------------------------------------------------------------- status mapping


def product_outcome(product: ProductResponse) -> str:
    """"ok", "partial", "error" or "pending" for one product; codes win over status words
    (error-codes.md: key logic on codes, not messages)."""
    if product.code in SUCCESS_CODES:
        return "ok"
    if product.code in PARTIAL_CODES:
        return "partial"
    if product.code:  # 1000-1040 failures and 6053 invalid namespace
        return "error"
    return {"complete": "ok", "error": "error"}.get(product.status.lower(), "pending")


def job_status(vendor_status: str, products: Sequence[ProductResponse] = ()) -> JobStatus:
    """The one place Adobe job statuses and result codes become a normalised JobStatus."""
    status = vendor_status.lower()
    if status == "error":
        return JobStatus.ERROR
    if status == "submitted":
        return JobStatus.SUBMITTED
    if status != "complete":
        if status != "processing":
            log.warning("Unknown Adobe job status %r; treating it as processing", vendor_status)
        return JobStatus.PROCESSING
    outcomes = [product_outcome(p) for p in products]
    # A complete job is final even if a product still says processing: Adobe's job status wins.
    if outcomes and all(o == "error" for o in outcomes):
        return JobStatus.ERROR
    if "error" in outcomes or "partial" in outcomes:
        return JobStatus.PARTIAL
    return JobStatus.COMPLETE


# --------------------------------------------------------------------------- parsing


def parse_adobe_date(value: Any) -> datetime | None:
    """"10/02/2019 08:25 PM GMT" → aware UTC datetime; ISO 8601 accepted too; else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    match = _ADOBE_DATE.fullmatch(value.strip())
    if match:
        month, day, year, hour, minute, half = match.groups()
        hour_24 = int(hour) % 12 + (12 if half.upper() == "PM" else 0)
        try:
            return datetime(int(year), int(month), int(day), hour_24, int(minute), tzinfo=UTC)
        except ValueError:
            return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        log.warning("Unreadable Adobe date %r", value)
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def result_code(response_msg_code: Any) -> str | None:
    if not response_msg_code:
        return None
    return str(response_msg_code).strip().upper().removeprefix("PRVCY-")


def parse_product(data: dict[str, Any]) -> ProductResponse:
    inner = data.get("productStatusResponse") or {}
    retry = data.get("retryCount")
    return ProductResponse(
        product=str(data.get("product") or ""),
        status=str(inner.get("status") or ""),
        code=result_code(inner.get("responseMsgCode")),
        message=inner.get("message"),
        detail=inner.get("responseMsgDetail"),
        retry_count=retry if isinstance(retry, int) else None,
        processed_at=parse_adobe_date(data.get("processedDate")),
    )


def parse_job(data: dict[str, Any]) -> PrivacyJob:
    """A job from GET /jobs/{id} or an entry of GET /jobs (which has no products)."""
    products = tuple(parse_product(p) for p in data.get("productResponses") or ()
                     if isinstance(p, dict))
    vendor_status = str(data.get("status") or "")
    children = data.get("childJobs") or ()
    return PrivacyJob(
        job_id=str(data["jobId"]),
        status=job_status(vendor_status, products),
        vendor_status=vendor_status,
        request_id=data.get("requestId"),
        user_key=data.get("userKey"),
        action=_single_action(data.get("action")),
        regulation=data.get("regulation"),
        created_at=parse_adobe_date(data.get("createdDate")),
        updated_at=parse_adobe_date(data.get("lastModifiedDate")),
        products=products,
        child_job_ids=tuple(str(c.get("jobId") if isinstance(c, dict) else c) for c in children),
        # Both spellings occur in Adobe's documents.
        download_url=data.get("downloadURL") or data.get("downloadUrl"),
    )


def _single_action(value: Any) -> str | None:
    if isinstance(value, list):  # create responses echo the user's action list
        return str(value[0]) if value else None
    return str(value) if value else None


def parse_created(body: Any) -> tuple[str | None, int | None, tuple[CreatedJob, ...]]:
    """(requestId, totalRecords, jobs) of a POST /jobs answer. The array is `jobs` in Adobe's
    examples and `jobDetails` in the OpenAPI schema; some examples omit requestId."""
    records = body if isinstance(body, list) else [body]
    request_id, total, jobs = None, None, []
    for record in records:
        if not isinstance(record, dict):
            raise ValueError("not an object")
        request_id = request_id or record.get("requestId")
        total = record.get("totalRecords", total)
        for job in record.get("jobs") or record.get("jobDetails") or ():
            user = (job.get("customer") or {}).get("user") or {}
            jobs.append(CreatedJob(
                job_id=str(job["jobId"]), key=user.get("key", job.get("userKey")),
                action=_single_action(user.get("action", job.get("action")))))
    return request_id, total if isinstance(total, int) else None, tuple(jobs)


# --------------------------------------------------------------------------- validation


def _product_key(code: str) -> str:
    key = code.strip().lower()
    return PRODUCT_ALIASES.get(key, key)


def with_cjm_upstream(include: Sequence[str], deletes: bool) -> tuple[tuple[str, ...],
                                                                       tuple[str, ...]]:
    """(include, added): for a delete including CJM, the upstream products it lacks."""
    include = tuple(include)
    present = {_product_key(code) for code in include}
    if not deletes or "cjm" not in present:
        return include, ()
    added = tuple(code for code in CJM_UPSTREAM if _product_key(code) not in present)
    return include + added, added


def validate_user(user: PrivacyUser) -> None:
    if not user.key:
        raise InvalidInput("Every Adobe user needs a key (the case reference)")
    actions = set(user.actions)
    if not actions or not actions <= {Action.ACCESS, Action.DELETE}:
        raise InvalidInput(f"User {user.key}: action must be 'access', 'delete' or both")
    if not 1 <= len(user.user_ids) <= MAX_IDENTITIES_PER_USER:
        raise InvalidInput(f"User {user.key} has {len(user.user_ids)} identities; Adobe accepts "
                           f"1 to {MAX_IDENTITIES_PER_USER} per user — split them")
    for uid in user.user_ids:
        validate_user_id(user.key, uid)


def validate_user_id(key: str, uid: UserID) -> None:
    if not uid.namespace or not uid.value:
        raise InvalidInput(f"User {key}: an identity has an empty namespace or value")
    if uid.type not in IdentityType.values:
        raise InvalidInput(f"User {key}: identity type '{uid.type}' is not one Adobe knows "
                           f"({', '.join(IdentityType.values)})")
    # Adobe answers "Invalid Namespace" for a custom namespace sent as standard
    # (docs/vendors.md [PS-FAQ]).
    if uid.type == IdentityType.STANDARD and uid.namespace.lower() not in ADOBE_STANDARD_NAMESPACES:
        raise InvalidInput(
            f"User {key}: namespace '{uid.namespace}' is not an Adobe standard namespace — set "
            "the identity's type to 'custom' (Adobe rejects it as 'Invalid Namespace' otherwise)")


def validate_request(users: Sequence[PrivacyUser], include: Sequence[str], regulation: str,
                     options: JobOptions) -> None:
    if not users:
        raise InvalidInput("An Adobe privacy request needs at least one user")
    if problem := regulation_error(regulation):
        raise InvalidInput(problem)
    if not include:
        raise InvalidInput("Choose at least one Adobe product to include "
                           "(or set ADOBE_DEFAULT_PRODUCTS)")
    unknown = [code for code in include if _product_key(code) not in PRODUCT_CODES]
    if unknown:
        raise InvalidInput(f"Unknown Adobe product code(s): {', '.join(unknown)}")
    if options.priority is not None and options.priority not in PRIORITIES:
        raise InvalidInput("priority must be 'normal' or 'low'")
    if (options.analytics_delete_method is not None
            and options.analytics_delete_method not in ANALYTICS_DELETE_METHODS):
        raise InvalidInput("analyticsDeleteMethod must be 'anonymize' or 'purge'")
    for user in users:
        validate_user(user)


def validate_window(from_date: date | None, to_date: date | None) -> None:
    if (from_date is None) != (to_date is None):
        raise InvalidInput("Give both fromDate and toDate, or neither (Adobe GET /jobs)")
    if from_date and to_date:
        if to_date < from_date:
            raise InvalidInput("toDate is before fromDate")
        if (to_date - from_date).days > MAX_WINDOW_DAYS:
            raise InvalidInput(f"Adobe lists jobs at most {MAX_WINDOW_DAYS} days apart; "
                               "narrow the date window")


def _deletes(users: Iterable[PrivacyUser]) -> bool:
    return any(Action.DELETE in user.actions for user in users)


def _chunks(users: Sequence[PrivacyUser]) -> list[tuple[PrivacyUser, ...]]:
    return [tuple(users[i:i + MAX_USERS_PER_REQUEST])
            for i in range(0, len(users), MAX_USERS_PER_REQUEST)]


# --------------------------------------------------------------------------- client


class AdobePrivacyClient(AdobeApi):
    vendor = "adobe_privacy"
    label = "Adobe Privacy Service"

    def __init__(self, tokens: AdobeTokenProvider, *, base_url: str = PRIVACY_BASE_URL,
                 session: requests.Session | None = None,
                 on_attempt: AttemptHook | None = None) -> None:
        super().__init__(tokens, base_url, session=session, on_attempt=on_attempt)

    def create_jobs(self, users: Sequence[PrivacyUser], *, include: Sequence[str],
                    regulation: str, options: JobOptions | None = None) -> CreatedJobs:
        """One POST /jobs for at most 1000 users. A request with a delete and CJM gains the
        upstream products (returned in `added_products`)."""
        options = options or JobOptions()
        validate_request(users, include, regulation, options)
        if len(users) > MAX_USERS_PER_REQUEST:
            raise InvalidInput(f"Adobe accepts at most {MAX_USERS_PER_REQUEST} users per "
                               "request; use submit_jobs to split them")
        final, added = with_cjm_upstream(include, _deletes(users))
        body = {"companyContexts": [{"namespace": "imsOrgID",
                                     "value": self.tokens.credentials.org_id}],
                "users": [user.payload() for user in users], "include": list(final),
                "regulation": regulation, **options.payload()}
        answer = self.call("POST", "/jobs", operation="create_jobs", ok=(200, 201, 202), json=body)
        try:
            request_id, total, jobs = parse_created(answer)
        except (KeyError, TypeError, AttributeError, ValueError):
            raise self.malformed("create_jobs", "no jobId in the job list") from None
        return CreatedJobs(request_id, total, jobs, final, added)

    def submit_jobs(self, users: Sequence[PrivacyUser], *, include: Sequence[str],
                    regulation: str, options: JobOptions | None = None) -> list[BatchOutcome]:
        """Any number of users as requests of at most 1000. One failed batch does not stop the
        others, except AuthError/RateLimited, after which the rest are marked not sent."""
        options = options or JobOptions()
        validate_request(users, include, regulation, options)
        outcomes: list[BatchOutcome] = []
        stop: ConnectorError | None = None
        for batch in self._batches(users, include):
            final, added = with_cjm_upstream(include, _deletes(batch))
            keys = tuple(user.key for user in batch)
            if stop is not None:
                outcomes.append(BatchOutcome(keys, final, added, error=_not_sent(stop)))
                continue
            try:
                result = self.create_jobs(batch, include=include, regulation=regulation,
                                          options=options)
                outcomes.append(BatchOutcome(keys, final, added, result=result))
            except ConnectorError as exc:
                outcomes.append(BatchOutcome(keys, final, added, error=exc))
                stop = exc if isinstance(exc, AuthError | RateLimited) else None
        return outcomes

    @staticmethod
    def _batches(users: Sequence[PrivacyUser], include: Sequence[str]
                 ) -> list[tuple[PrivacyUser, ...]]:
        if "cjm" not in {_product_key(code) for code in include}:
            return _chunks(users)
        # Only deletes need CJM's upstream products, so access-only users go in their own
        # requests and are not widened to products nobody asked for.
        deleting = [user for user in users if Action.DELETE in user.actions]
        reading = [user for user in users if Action.DELETE not in user.actions]
        return _chunks(deleting) + _chunks(reading)

    def get_job(self, job_id: str) -> PrivacyJob:
        body = self.call("GET", f"/jobs/{quote(job_id, safe='')}", operation="get_job")
        try:
            return parse_job(body)
        except (KeyError, TypeError, AttributeError):
            raise self.malformed("get_job", "no jobId") from None

    def list_jobs(self, *, regulation: str, from_date: date | None = None,
                  to_date: date | None = None, status: str | None = None,
                  size: int = 100) -> JobList:
        """GET /jobs, walking pages from 0 until totalRecords are collected or a page is empty."""
        self._validate_list(regulation, from_date, to_date, status, size)
        params = {"regulation": regulation, "size": str(size)}
        if status:
            params["status"] = status
        if from_date and to_date:
            params |= {"fromDate": from_date.isoformat(), "toDate": to_date.isoformat()}
        jobs: list[PrivacyJob] = []
        total, page = 0, 0
        while True:
            total, entries = self._list_page(params, page)
            jobs.extend(entries)
            if not entries or len(jobs) >= min(total, MAX_LIST_JOBS):
                break
            page += 1
        return JobList(total, tuple(jobs), complete=len(jobs) >= total)

    def find_jobs(self, key: str, *, regulation: str, from_date: date | None = None,
                  to_date: date | None = None) -> list[PrivacyJob]:
        """Jobs whose userKey is `key`: reconcile a submission whose outcome is unknown."""
        listing = self.list_jobs(regulation=regulation, from_date=from_date, to_date=to_date,
                                 size=MAX_LIST_SIZE)
        return [job for job in listing.jobs if job.user_key == key]

    def _list_page(self, params: dict[str, str], page: int) -> tuple[int, list[PrivacyJob]]:
        body = self.call("GET", "/jobs", operation="list_jobs",
                         params={**params, "page": str(page)})
        try:
            entries = [parse_job(item) for item in body.get("jobDetails") or body.get("jobs") or ()]
            total = int(body.get("totalRecords") or 0)
        except (KeyError, TypeError, AttributeError, ValueError):
            raise self.malformed("list_jobs", "unexpected job list") from None
        return total, entries

    @staticmethod
    def _validate_list(regulation: str, from_date: date | None, to_date: date | None,
                       status: str | None, size: int) -> None:
        if problem := regulation_error(regulation):
            raise InvalidInput(problem)
        if not 1 <= size <= MAX_LIST_SIZE:
            raise InvalidInput(f"size must be between 1 and {MAX_LIST_SIZE}")
        if status is not None and status not in JOB_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(sorted(JOB_STATUSES))}")
        validate_window(from_date, to_date)


def _not_sent(cause: ConnectorError) -> ConnectorError:
    """The error for a batch skipped after `cause`: same kind, but certainly not sent."""
    kwargs: dict[str, Any] = {"retryable": cause.retryable, "retry_after": cause.retry_after,
                              "status": cause.status, "code": cause.code, "maybe_sent": False}
    if isinstance(cause, RateLimited):
        kwargs["scope"] = cause.scope
    return type(cause)(f"Not sent because an earlier batch failed: {cause.message}", **kwargs)
