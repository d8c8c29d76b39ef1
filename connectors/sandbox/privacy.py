"""Adobe Privacy Service: ``POST /jobs``, ``GET /jobs/{jobId}``, ``GET /jobs``, result ZIPs."""

from __future__ import annotations

import hmac
import secrets
import uuid
from typing import Any

from .adobe import check_gateway, require_json_body, submitted_by
from .catalog import (
    CJM_UPSTREAM,
    PRVCY_DATA_ACCESS,
    PRVCY_JOB_FAILURE,
    PRVCY_NOT_FOUND,
    PRVCY_SUCCESS,
    Product,
)
from .http import HttpError, Reply, Request
from .privacy_rules import JobsSpec, UserSpec, parse_create, parse_list, problem
from .progress import Progress, adobe_date, utc
from .state import PrivacyJob, SandboxState
from .zips import build_result_zip

_RUNNING = ["submitted", "processing"]
PATHS = {
    "complete": [*_RUNNING, "complete"],
    "partial": [*_RUNNING, "complete"],
    "nodata": [*_RUNNING, "complete"],
    "error": [*_RUNNING, "error"],
    "stuck": _RUNNING,
    "cjm_stuck": _RUNNING,
}
# Sandbox conventions: a marker in the user key or an identity value picks the outcome.
_MARKERS = (
    ("sandbox-error", "error"),
    ("sandbox-partial", "partial"),
    ("sandbox-nodata", "nodata"),
    ("sandbox-stuck", "stuck"),
)


def create_jobs(state: SandboxState, req: Request) -> Reply:
    client_id = check_gateway(state, req)
    body = require_json_body(req, problem)
    spec = parse_create(body, state.config.org_id, state.config.privacy_max_users)
    request_id = f"{int(state.now() * 1e7)}RX-{secrets.randbelow(900) + 100}"
    jobs = [
        _new_job(state, spec, user, action, request_id, client_id)
        for user in spec.users
        for action in user.actions
    ]
    for job in jobs:
        state.privacy_jobs[job.job_id] = job
    payload = {
        "requestId": request_id,
        "totalRecords": len(jobs),
        "jobs": [_created(job) for job in jobs],
    }
    return Reply.json(202, payload)


def _new_job(
    state: SandboxState,
    spec: JobsSpec,
    user: UserSpec,
    action: str,
    request_id: str,
    client_id: str,
) -> PrivacyJob:
    outcome = _outcome(user, action, spec.products)
    return PrivacyJob(
        job_id=str(uuid.uuid4()),
        request_id=request_id,
        org_id=state.config.org_id,
        user_key=user.key,
        action=action,
        user_ids=user.user_ids,
        products=spec.products,
        regulation=spec.regulation,
        submitted_by=submitted_by(client_id),
        outcome=outcome,
        progress=Progress(list(PATHS[outcome]), created=state.now()),
    )


def _outcome(user: UserSpec, action: str, products: list[Product]) -> str:
    codes = {p.code for p in products}
    # Vendor quirk (docs/vendors.md [JO-PRIVACY]): a CJM delete without its upstream products
    # never finishes.
    if action == "delete" and "CJM" in codes and not set(CJM_UPSTREAM) <= codes:
        return "cjm_stuck"
    text = " ".join([user.key, *(str(uid["value"]) for uid in user.user_ids)]).lower()
    return next((outcome for marker, outcome in _MARKERS if marker in text), "complete")


def _created(job: PrivacyJob) -> dict[str, Any]:
    user = {"key": job.user_key, "action": [job.action], "userIDs": job.user_ids}
    return {"jobId": job.job_id, "customer": {"user": user}}


def get_job(state: SandboxState, req: Request) -> Reply:
    check_gateway(state, req)
    job = _find(state, req.params["job_id"])
    return Reply.json(200, job_detail(state, job, req.base_url))


def _find(state: SandboxState, job_id: str) -> PrivacyJob:
    job = state.privacy_jobs.get(job_id)
    if job is None or job.org_id != state.config.org_id:
        raise problem(404, f"Job {job_id} not found")
    state.refresh(job.progress)
    return job


def job_summary(job: PrivacyJob) -> dict[str, Any]:
    return {
        "jobId": job.job_id,
        "requestId": job.request_id,
        "userKey": job.user_key,
        "action": job.action,
        "status": job.progress.status,
        "submittedBy": job.submitted_by,
        "createdDate": adobe_date(job.progress.created),
        "lastModifiedDate": adobe_date(job.progress.modified),
    }


def job_detail(state: SandboxState, job: PrivacyJob, base_url: str) -> dict[str, Any]:
    detail = job_summary(job)
    detail["userIds"] = job.user_ids
    detail["productResponses"] = [_product_response(job, i) for i in range(len(job.products))]
    detail["regulation"] = job.regulation
    if job.action == "access" and job.progress.status == "complete":
        sig = state.sign(job.job_id)
        detail["downloadURL"] = f"{base_url}/adobe/download/{job.job_id}.zip?sig={sig}"
    return detail


def product_state(job: PrivacyJob, index: int) -> tuple[str, tuple[str, str, str] | None]:
    """(status, result code) of one product of the job, given the job's status and outcome."""
    status, product = job.progress.status, job.products[index]
    if job.outcome == "cjm_stuck" and status == "processing":
        return ("processing", None) if product.code == "CJM" else ("complete", PRVCY_SUCCESS)
    if status in _RUNNING:
        return status, None
    if job.outcome == "error":
        return "error", PRVCY_JOB_FAILURE
    if job.outcome == "partial" and index == 0:
        return "error", PRVCY_DATA_ACCESS
    return "complete", PRVCY_NOT_FOUND if job.outcome == "nodata" else PRVCY_SUCCESS


def _product_response(job: PrivacyJob, index: int) -> dict[str, Any]:
    status, result = product_state(job, index)
    response: dict[str, Any] = {"status": status, "message": status.capitalize()}
    processed = None
    if result is not None:
        code, message, detail = result
        response.update(message=message, responseMsgCode=code, responseMsgDetail=detail)
        processed = adobe_date(job.progress.reached.get(status, job.progress.modified))
    return {
        "product": job.products[index].name,
        "retryCount": 0,
        "processedDate": processed,
        "productStatusResponse": response,
    }


def list_jobs(state: SandboxState, req: Request) -> Reply:
    check_gateway(state, req)
    query = parse_list(req.query)
    jobs = [job for job in state.privacy_jobs.values() if _listed(state, job, query)]
    jobs.sort(key=lambda job: job.progress.created, reverse=True)
    start = query.page * query.size
    page = [job_summary(job) for job in jobs[start : start + query.size]]
    return Reply.json(200, {"totalRecords": len(jobs), "jobDetails": page})


def _listed(state: SandboxState, job: PrivacyJob, query: Any) -> bool:
    if job.org_id != state.config.org_id or job.regulation != query.regulation:
        return False
    state.refresh(job.progress)
    if query.status and job.progress.status != query.status:
        return False
    if query.from_date is None:
        return True
    return query.from_date <= utc(job.progress.created).date() <= query.to_date


def download_result(state: SandboxState, req: Request) -> Reply:
    """The ZIP behind ``downloadURL``: like a pre-signed URL it needs only its ``sig``."""
    job = state.privacy_jobs.get(req.params["job_id"])
    if not hmac.compare_digest(req.query.get("sig", ""), state.sign(req.params["job_id"])):
        raise HttpError(
            Reply.json(403, {"error": "AuthenticationFailed", "message": "Signature did not match"})
        )
    if job is None:
        raise HttpError(Reply.json(404, {"error": "BlobNotFound", "message": "No such result"}))
    state.refresh(job.progress)
    if job.action != "access" or job.progress.status != "complete":
        raise HttpError(Reply.json(404, {"error": "BlobNotFound", "message": "Not ready"}))
    products = [(p, product_state(job, i)[1]) for i, p in enumerate(job.products)]
    data = build_result_zip(job, products)
    disposition = f'attachment; filename="{job.job_id}.zip"'
    return Reply(200, data, {"Content-Type": "application/zip", "Content-Disposition": disposition})
