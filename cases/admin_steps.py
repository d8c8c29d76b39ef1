"""Workflow steps of a case: each is a button on the case page and, optionally, a bulk action.

How to add one:

1. `register_step(CaseStep(name="sync", label="Sync now", done="synced", run=..., shown=...))`.
   `run(case, given)` calls a service with `given.actor` (and `given.data`, the cleaned form).
   Give `form=` a `cases.forms.StepForm` subclass when the step needs input (it gets `case=`
   on the case page, None in bulk, and `cases=` either way), `explain=` (and `explain_title=`)
   to show per-case context on that form page, and `intro=` for a paragraph above it.
   `confirm_bulk=` makes a form-less step show that page as a confirmation first, in bulk,
   when any selected case needs it (an irreversible step such as sending deletes).
2. The button and the URL `admin:cases_case_step_<name>` (args: the case pk) appear by themselves.
3. For a bulk action, add a three-line method named like the step to `CaseAdmin` that returns
   `self.run_step(request, queryset, "<name>")`, and list it in `CaseAdmin.actions`.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from cases import deadlines, notes, responses, responses_admin, services, verification
from cases.audit import Actor
from cases.choices import (
    CASE_CLOCK_RUNNING,
    CASE_HOLDABLE,
    CASE_TERMINAL,
    CASE_TRANSITIONS,
    CASE_UNSUBMITTED,
    JOB_ACTIVE,
    Action,
    CaseStatus,
    JobStatus,
    ResponseStatus,
    TokenPurpose,
    VerificationMethod,
)
from cases.forms import (
    AssignForm,
    CloseForm,
    ExtendForm,
    HoldForm,
    ManualJobDoneForm,
    NoteForm,
    RecordDeleteForm,
    RejectForm,
    RoutingForm,
    StepForm,
    VerifyForm,
    told_out_of_band,
)
from cases.models import Case, TransitionError
from cases.routing import HYGIENE_NOTICE


@dataclass(frozen=True)
class StepInput:
    """What a step's `run` gets besides the case: who acts, and the cleaned form data."""

    actor: Actor
    user: Any
    data: Mapping[str, Any]


@dataclass(frozen=True)
class CaseStep:
    name: str  # URL slug, admin action name and registry key
    label: str  # button and action text
    done: str  # past participle for "3 cases <done>."
    run: Callable[[Case, StepInput], object]
    shown: Callable[[Case, Any], bool] = field(default=lambda case, user: True)
    form: type[StepForm] | None = None
    explain: Callable[[Case], str] | None = None
    explain_title: str = "Limit"
    intro: str = ""
    confirm_bulk: Callable[[Case], bool] | None = None
    # Why the step is not offered, when `shown` is False and a generic sentence would not do.
    unavailable: Callable[[Case], str] | None = None
    # `done` when it depends on what the officer chose on the form (its cleaned data).
    done_with: Callable[[Mapping[str, Any]], str] | None = None

    def done_text(self, data: Mapping[str, Any]) -> str:
        return self.done_with(data) if self.done_with else self.done


CASE_STEPS: dict[str, CaseStep] = {}


def register_step(step: CaseStep) -> CaseStep:
    CASE_STEPS[step.name] = step
    return step


def step_url_name(name: str) -> str:
    return f"cases_case_step_{name}"


def _can_become(status: str) -> Callable[[Case, Any], bool]:
    return lambda case, user: status in CASE_TRANSITIONS[case.status]


def step_unavailable(step: CaseStep, case: Case) -> str:
    """The message for a step the case cannot take now."""
    reason = step.unavailable(case) if step.unavailable else (
        f"the case is {case.get_status_display().lower()}."
    )
    return f"{step.label} is not available for {case.reference}: {reason}"


def _why_no_extension(case: Case) -> str:
    # The same refusals as services.extend_deadline, checked in the same order.
    if case.status not in CASE_CLOCK_RUNNING and case.status != CaseStatus.ON_HOLD:
        return "the case has been answered; there is no deadline left to extend."
    if case.status == CaseStatus.ON_HOLD:
        return "the case is on hold; resume it before extending."
    if case.extended_at:
        return f"the deadline was already extended once, to {case.due_date}."
    return f"{case.rule.label} allows no extension ({case.rule.source})."


def _explain_extension(case: Case) -> str:
    """The rule's limit, so the officer sees how far this case may go before choosing a date."""
    rule = case.rule
    if case.extended_at:
        return f"Already extended once, to {case.due_date}."
    try:
        latest = deadlines.extended_due_date(
            case.regulation, timezone.localdate(case.received_at), case.due_date
        )
    except deadlines.DeadlineError as exc:
        return str(exc)
    return (
        f"Due {case.due_date}. {rule.label} allows + {rule.extension} ({rule.source}): "
        f"at the latest {latest}. {rule.extension_note}"
    )


def _told(notice: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda data: (
        f"{notice}: that the subject was told another way is recorded"
        if told_out_of_band(data) else f"{notice}: the message to the subject is queued"
    )


register_step(
    CaseStep(
        name="verify",
        label="Verify identity",
        done="verified",
        run=lambda case, given: services.verify_identity(
            case, actor=given.actor, method=given.data["method"], note=given.data["note"],
            evidence=given.data.get("evidence"),
        ),
        shown=_can_become(CaseStatus.VERIFIED),
        form=VerifyForm,
        intro="Record how you checked that the request comes from the person it is about, or "
        "send them a link to confirm it themselves. Vendors receive only verified cases.",
        done_with=lambda data: (
            "sent a verification link: the case stays new until the subject confirms"
            if data.get("method") == VerificationMethod.EMAIL_LINK else "verified"
        ),
    )
)
register_step(
    CaseStep(
        name="resend_link",
        label="Re-send verification link",
        done="sent a new verification link (the earlier one no longer works)",
        run=lambda case, given: services.verify_identity(
            case, actor=given.actor, method=VerificationMethod.EMAIL_LINK
        ),
        shown=lambda case, user: case.status == CaseStatus.NEW and case.portal_tokens.filter(
            purpose=TokenPurpose.VERIFY).exists(),
    )
)
register_step(
    CaseStep(
        name="revoke_link",
        label="Revoke verification link",
        done="verification link revoked",
        run=lambda case, given: verification.revoke(case, actor=given.actor),
        shown=lambda case, user: verification.live_links(case).exists(),
    )
)
register_step(
    CaseStep(
        name="hold",
        label="Put on hold",
        done="put on hold",
        run=lambda case, given: services.put_on_hold(
            case, actor=given.actor, reason=given.data["reason"]
        ),
        shown=lambda case, user: case.status in CASE_HOLDABLE,
        form=HoldForm,
    )
)
register_step(
    CaseStep(
        name="resume",
        label="Resume",
        done="resumed",
        run=lambda case, given: services.resume(case, actor=given.actor),
        shown=lambda case, user: case.status == CaseStatus.ON_HOLD,
    )
)
register_step(
    CaseStep(
        name="extend",
        label="Extend deadline",
        done="extended",
        run=lambda case, given: services.extend_deadline(
            case, actor=given.actor, reason=given.data["reason"], until=given.data["until"],
            told_out_of_band=told_out_of_band(given.data),
        ),
        shown=lambda case, user: (
            case.status in CASE_CLOCK_RUNNING
            and not case.extended_at
            and case.rule.extension is not None
        ),
        form=ExtendForm,
        explain=_explain_extension,
        unavailable=_why_no_extension,
        done_with=_told("extended"),
    )
)
register_step(
    CaseStep(
        name="reject",
        label="Reject",
        done="rejected",
        run=lambda case, given: services.reject(
            case, actor=given.actor, reason=given.data["reason"], code=given.data["code"],
            told_out_of_band=told_out_of_band(given.data),
        ),
        shown=_can_become(CaseStatus.REJECTED),
        form=RejectForm,
        done_with=_told("rejected"),
    )
)
register_step(
    CaseStep(
        name="assign_to_me",
        label="Assign to me",
        done="assigned to you",
        run=lambda case, given: services.assign(case, actor=given.actor, assignee=given.user),
        shown=lambda case, user: case.is_open and case.assignee_id != user.pk,
    )
)
register_step(
    CaseStep(
        name="assign",
        label="Assign to officer",
        done="reassigned",
        run=lambda case, given: services.assign(
            case, actor=given.actor, assignee=given.data["assignee"]
        ),
        shown=lambda case, user: case.is_open,
        form=AssignForm,
    )
)
def _explain_failed_deletes(case: Case) -> str:
    failed = services.failed_deletes(case)
    if not failed:
        return "None"
    return "; ".join(
        f"{job.get_vendor_display()} delete: {job.get_status_display().lower()}"
        + (f" ({job.last_error})" if job.last_error else "")
        for job in failed
    )


register_step(
    CaseStep(
        name="close",
        label="Close",
        done="closed",
        run=lambda case, given: services.close(
            case,
            actor=given.actor,
            note=given.data["note"],
            delivered_out_of_band=given.data.get("delivered_out_of_band", ""),
            confirm_failed_deletes=given.data.get("confirm_failed_deletes", False),
            failed_delete_reason=given.data.get("failed_delete_reason", ""),
        ),
        shown=_can_become(CaseStatus.CLOSED),
        form=CloseForm,
        explain=_explain_failed_deletes,
        explain_title="Failed deletes",
        intro="Closing records that the response has been delivered to the subject: the "
        "request is answered. It needs a response sent through the portal (Send response) or "
        "your note of how it was delivered another way. A closed case cannot be reopened, "
        "reassigned or changed. A case whose delete failed closes only with your confirmation "
        "and a reason.",
    )
)


def plural(n: int, word: str = "case") -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def refusal(case: Case, exc: Exception) -> str:
    """A service's refusal as one line naming the case (TransitionErrors already do)."""
    if isinstance(exc, TransitionError):
        return str(exc)
    return f"{case.reference}: {' '.join(exc.messages)}"


# --- Vendor work ------------------------------------------------------------------------------


def _jobs(case: Case) -> list:
    # The case page prefetches jobs; in bulk this is one query per case, bounded by the page.
    return list(case.jobs.all())


register_step(
    CaseStep(
        name="routing",
        label="Change routing",
        done="re-routed",
        run=lambda case, given: services.update_routing(case, actor=given.actor, **given.data),
        shown=lambda case, user: case.status in CASE_UNSUBMITTED,
        form=RoutingForm,
    )
)
register_step(
    CaseStep(
        name="submit",
        label="Submit to vendors",
        done="submitted to vendors",
        run=lambda case, given: services.submit_case(case, actor=given.actor),
        shown=lambda case, user: (
            case.status in (CaseStatus.VERIFIED, CaseStatus.ACTION_REQUIRED)
            and services.has_something_to_send(case)
        ),
        explain=lambda case: ", ".join(services.vendors_asked_to_delete(case)) or "None",
        explain_title="Vendors asked to delete",
        intro="Submitting sends each case to its vendors now. A delete cannot be recalled once "
        "a vendor has it.",
        confirm_bulk=lambda case: Action.DELETE in case.action_list,
    )
)
register_step(
    CaseStep(
        name="sync",
        label="Sync now",
        done="queued for a status sync",
        run=lambda case, given: services.request_sync(case, actor=given.actor),
        shown=lambda case, user: any(job.status in JOB_ACTIVE or job.status == JobStatus.PENDING
                                     for job in _jobs(case)),
    )
)
register_step(
    CaseStep(
        name="retry",
        label="Retry failed jobs",
        done="sent again",
        run=lambda case, given: services.retry_failed_jobs(case, actor=given.actor),
        shown=lambda case, user: any(services.job_needs_retry(job) for job in _jobs(case)),
    )
)
register_step(
    CaseStep(
        name="manual_done",
        label="Mark manual job done",
        done="updated",
        run=lambda case, given: services.complete_manual_job(
            given.data["job"], actor=given.actor, note=given.data["note"],
            attachment=given.data.get("attachment"),
        ),
        shown=lambda case, user: any(job.status == JobStatus.MANUAL for job in _jobs(case)),
        form=ManualJobDoneForm,
    )
)
register_step(
    CaseStep(
        name="record_delete",
        label="Data Hygiene record delete",
        done="queued for a Data Hygiene record delete",
        run=lambda case, given: services.request_record_delete(case, actor=given.actor),
        shown=lambda case, user: "delete" in case.action_list and case.status not in CASE_TERMINAL,
        form=RecordDeleteForm,
        explain=lambda case: HYGIENE_NOTICE,
    )
)
register_step(
    CaseStep(
        name="note",
        label="Add note or attachment",
        done="updated",
        run=lambda case, given: notes.add_note_or_attachment(
            case,
            actor=given.actor,
            text=given.data["note"],
            upload=given.data.get("attachment"),
            include_in_response=given.data["include_in_response"],
        ),
        shown=lambda case, user: case.is_open,
        form=NoteForm,
        unavailable=lambda case: f"the case is {case.get_status_display().lower()}; "
        "an ended case is not changed.",
    )
)


# --- The response -----------------------------------------------------------------------------


def _response_status(case: Case) -> str:
    package = responses.package_of(case)
    return package.status if package else ""


register_step(
    CaseStep(
        name="prepare_response",
        label="Prepare response",
        done="response prepared: review it from the Response line",
        run=lambda case, given: responses.prepare(case, actor=given.actor),
        shown=lambda case, user: case.status in responses.PREPARABLE
        and _response_status(case) in ("", ResponseStatus.DRAFT),
        unavailable=lambda case: "a response is prepared once the vendors have answered, "
        "and only until it is sent.",
    )
)
register_step(
    CaseStep(
        name="leave_out",
        label="Leave a file out of the response",
        done="response prepared again without that file",
        run=lambda case, given: responses.leave_out(
            case, actor=given.actor, key=given.data["file"], reason=given.data["reason"]
        ),
        shown=lambda case, user: responses_admin.has_draft(case),
        form=responses_admin.LeaveOutForm,
        intro="The file is left out of the package and of report.html; your reason is kept on "
        "the case for officers, and the audit trail records which file.",
        unavailable=lambda case: "there is no draft response package.",
    )
)
register_step(
    CaseStep(
        name="send_response",
        label="Send response",
        done="response sent: the subject is emailed their personal link",
        run=lambda case, given: responses.send(case, actor=given.actor),
        shown=lambda case, user: responses_admin.has_draft(case),
        unavailable=lambda case: "there is no draft response package to send.",
    )
)
register_step(
    CaseStep(
        name="revoke_response",
        label="Revoke response link",
        done="response link revoked",
        run=lambda case, given: responses.revoke(case, actor=given.actor),
        shown=lambda case, user: responses_admin.live_link(case),
        unavailable=lambda case: "no response link works.",
    )
)
register_step(
    CaseStep(
        name="reissue_response",
        label="Re-issue response link",
        done="response link re-issued: the subject is emailed a new link, the old one stops "
        "working",
        run=lambda case, given: responses.reissue(case, actor=given.actor),
        shown=lambda case, user: _response_status(case) in (
            ResponseStatus.SENT, ResponseStatus.REVOKED),
        unavailable=lambda case: "the response has not been sent.",
    )
)
