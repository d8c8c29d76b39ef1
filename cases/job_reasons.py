"""Words an officer can act on for a vendor job: why it needs attention, and what its result is.

Built from what the vendor said (its status, result codes, per-product statuses) and ids only,
never personal data: these texts are stored on the job and copied into the case's status reason.
"""

from cases.choices import Action, JobStatus, ResultStatus, Vendor
from cases.models import VendorJob
from connectors.adobe_privacy import RESULT_CODE_MEANINGS

RETRY = "press Retry failed jobs"


def problem_reason(job: VendorJob) -> str:
    """Why an errored, partial or cancelled job needs an officer, and what to do next."""
    if job.vendor == Vendor.ID5:
        return _id5_reason(job)
    if job.vendor == Vendor.ADOBE_HYGIENE:
        return _hygiene_reason(job)
    return _adobe_privacy_reason(job)


def _code(code: str) -> str:
    meaning = RESULT_CODE_MEANINGS.get(code)
    return f"PRVCY-{code} ({meaning})" if meaning else code


def _adobe_products(job: VendorJob) -> str:
    products = job.product_statuses or {}
    if products:
        return "; ".join(
            f"{name} {state.get('status') or 'no status'}"
            + (f" {_code(state['code'])}" if state.get("code") else "")
            for name, state in sorted(products.items())
        )
    codes = [_code(code) for code in job.result_codes or []]
    return ", ".join(codes) or "no product codes given"


def _adobe_privacy_reason(job: VendorJob) -> str:
    job_id = job.vendor_job_id or "(no job id yet)"
    said = (
        f"Adobe reports job {job_id} as {job.vendor_status or 'unknown'}"
        f" ({job.get_status_display().lower()}): {_adobe_products(job)}."
    )
    support = f"contact Adobe support with job id {job_id}"
    if job.request_id:
        support += f" (request {job.request_id})"
    if job.status == JobStatus.PARTIAL:
        step = (
            f"The other products finished. Check the failed product's code, then {RETRY} to send "
            f"the job again (Adobe does not retry errored jobs); if it fails again, {support}."
        )
    elif job.status == JobStatus.CANCELLED:
        step = f"Adobe cancelled it: {RETRY} to send it again, or {support} to ask why."
    else:
        step = (
            f"Adobe does not retry errored jobs: fix what the code names, then {RETRY}; "
            f"if it fails again, {support}."
        )
    return f"{said} {step}"


def _id5_reason(job: VendorJob) -> str:
    request_id = job.vendor_job_id or "(no request id)"
    result = ", ".join(job.result_codes or []) or "none"
    said = (
        f"ID5 reports request {request_id} as {job.vendor_status or 'unknown'}"
        f" (processingResult {result})."
    )
    if job.status == JobStatus.CANCELLED:
        step = (
            f"ID5 cancelled it: ask ID5 support why, quoting request id {request_id}, or {RETRY} "
            "to send a new request."
        )
    else:
        step = (
            f"ID5 gives no reason: contact ID5 support with request id {request_id}, or {RETRY} "
            "to send a new request (ID5 takes one request per identifier per day)."
        )
    return f"{said} {step}"


def _hygiene_reason(job: VendorJob) -> str:
    order = job.vendor_job_id or "(no work order id)"
    failed = sorted(
        name for name, state in (job.product_statuses or {}).items()
        if str(state.get("status", "")).lower() == "failure"
    )
    services = f" Failed services: {', '.join(failed)}." if failed else ""
    return (
        f"Adobe Data Hygiene reports work order {order} as {job.vendor_status or 'unknown'}"
        f" ({job.get_status_display().lower()}).{services} {RETRY} to create a new work order; "
        f"if it fails again, contact Adobe support with work order id {order}."
    )


def result_text(job: VendorJob) -> str:
    """Where the job's result is, in words: a pending Adobe access job still expects its file."""
    if job.result_status != ResultStatus.NONE:
        return job.get_result_status_display()
    if job.action == Action.DELETE:
        return "No result file (delete)"
    if job.vendor != Vendor.ADOBE_PRIVACY:
        return "No result file (the officer's note records the answer)"
    if job.status in (JobStatus.COMPLETE, JobStatus.PARTIAL):
        return "Expected: waiting for the next status sync"
    if job.status in (JobStatus.ERROR, JobStatus.CANCELLED):
        return "None: the job did not complete"
    if job.status == JobStatus.NOT_APPLICABLE:
        return "None: not applicable"
    return "Expected when the job completes"
