"""Badges and the officer's queue, shared by the case admin and its templates.

Every badge says in words what its colour says (WCAG 1.4.1: colour is never the only signal).
"""

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django import template
from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from cases.choices import CASE_TERMINAL, CaseStatus, JobStatus, Regulation, ResultStatus
from cases.models import AuditEvent, Case, VendorJob

register = template.Library()

# How many cases each dashboard box lists; its count links to the full filtered list.
QUEUE_PREVIEW = 5
# A timeline row stays one or two lines; the audit event's own page has everything.
SUMMARY_LENGTH = 240


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def days_left_text(days: int) -> str:
    """'3 days left', 'due today', 'overdue by 2 days'."""
    if days < 0:
        return f"overdue by {_plural(-days, 'day')}"
    if days == 0:
        return "due today"
    return f"{_plural(days, 'day')} left"


@register.filter
def regulation_name(code: str) -> str:
    """'EU/EEA GDPR' for 'gdpr': the law's name, without the code the choice label carries."""
    return _REGULATION_NAMES.get(code, code)


# Worked out once: the case list shows one per row.
_REGULATION_NAMES = {
    code: str(label).removesuffix(f" ({code})") for code, label in Regulation.choices
}


@register.filter
def assignee_name(case: Case) -> str:
    if case.assignee is None:
        return "—"
    return case.assignee.get_full_name() or case.assignee.get_username()


@register.filter
def status_badge(case: Case) -> SafeString:
    return format_html(
        '<span class="pd-pill pd-status-{}">{}</span>', case.status,
        _STATUS_LABELS.get(case.status, case.status),
    )


# get_status_display() rebuilds a dict of the choices on every call; the case list makes 50.
_STATUS_LABELS = dict(CaseStatus.choices)


@register.filter
def job_status_badge(job: VendorJob) -> SafeString:
    return format_html(
        '<span class="pd-pill pd-job-{}">{}</span>', job.status, job.get_status_display()
    )


@register.filter
def deadline_badge(case: Case, today: dt.date | None = None) -> SafeString:
    """Days left, coloured by band; 'paused' while on hold and a dash once the case has ended."""
    if case.status == CaseStatus.ON_HOLD:
        return format_html(
            '<span class="pd-days pd-band-paused" title="{}">paused</span>', "The clock is paused"
        )
    left = case.days_left(today)
    if left is None:
        return format_html('<span class="pd-days-none" title="{}">—</span>', "No clock running")
    return format_html(
        '<span class="pd-days pd-band-{}">{}</span>',
        case.deadline_band(today),
        days_left_text(left),
    )


def _status_label(code: object) -> str:
    return CaseStatus(code).label if code in CaseStatus.values else str(code)


def _detail_value(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "—" if value is None else str(value)


@register.filter
def audit_summary(event: AuditEvent) -> str:
    """One line for the timeline: a status move reads 'New → Identity verified'."""
    details = event.details or {}
    if event.action == "case.status_changed" and {"from", "to"} <= details.keys():
        return f"{_status_label(details['from'])} → {_status_label(details['to'])}"
    text = "; ".join(
        f"{key.replace('_', ' ')}: {_detail_value(value)}" for key, value in sorted(details.items())
    )
    return text if len(text) <= SUMMARY_LENGTH else text[: SUMMARY_LENGTH - 1] + "…"


@dataclass(frozen=True)
class QueueBox:
    """One box of the dashboard: a count, the first few cases, and where to see them all."""

    key: str
    title: str
    count: int
    cases: list[Case]
    url: str


def _box(key: str, title: str, queryset: QuerySet, query: str) -> QueueBox:
    changelist = reverse("admin:cases_case_changelist")
    return QueueBox(
        key=key,
        title=title,
        count=queryset.count(),
        cases=list(queryset.select_related("assignee").order_by("due_date", "id")[:QUEUE_PREVIEW]),
        url=f"{changelist}?{query}",
    )


def officer_queue_boxes(user) -> list[QueueBox]:
    """The dashboard boxes; each query string matches a filter of the case list."""
    cases = Case.objects.all()
    today = timezone.localdate()
    boxes = [
        _box("overdue", "Overdue", cases.overdue(today), "deadline=overdue"),
        _box("week", "Due within 7 days", cases.due_within(7, today), "deadline=week"),
        _box(
            "action_required",
            "Action required",
            cases.filter(status=CaseStatus.ACTION_REQUIRED),
            f"status__exact={CaseStatus.ACTION_REQUIRED}",
        ),
        _box(
            "on_hold",
            "On hold",
            cases.filter(status=CaseStatus.ON_HOLD),
            f"status__exact={CaseStatus.ON_HOLD}",
        ),
        _box(
            "new",
            "New: identity to verify",
            cases.filter(status=CaseStatus.NEW),
            f"status__exact={CaseStatus.NEW}",
        ),
        _box(
            "unacknowledged",
            "Acknowledgement not sent",
            cases.awaiting_acknowledgement(),
            "messages=ack_awaiting",
        ),
        _box(
            "messages_failed",
            "Messages failed",
            cases.with_failed_messages(),
            "messages=failed",
        ),
    ]
    if user.has_perm("cases.change_case"):  # auditors are never assigned a case
        boxes.append(
            _box(
                "mine",
                "Assigned to me",
                cases.exclude(status__in=CASE_TERMINAL).filter(assignee=user),
                "assigned=me",
            )
        )
    return boxes


def home_title(user) -> str:
    """What the admin home is to this user: officers work a queue, auditors read the record."""
    if user.has_perm("cases.change_case"):
        return "Officer's queue"
    if user.has_perm("cases.view_case"):
        return "Cases and audit trail"
    return "Administration"


@register.simple_tag(takes_context=True)
def home_page_title(context) -> str:
    """`{% home_page_title %}`: the admin home's heading for the user looking at it."""
    return home_title(context["request"].user)


@register.simple_tag(takes_context=True)
def officer_queue(context) -> list[QueueBox]:
    """`{% officer_queue as boxes %}`: empty for users who may not see cases."""
    user = context["request"].user
    if not user.has_perm("cases.view_case"):
        return []
    return officer_queue_boxes(user)


@dataclass(frozen=True)
class WorkSummary:
    """Vendor work in flight, for the dashboard: progress an officer can watch."""

    counts: list[tuple[str, int, str]]  # (label, count, changelist query)
    queued_tasks: int
    next_sync: Any


def vendor_work_summary() -> WorkSummary:
    from django_q.models import OrmQ, Schedule

    by_status = dict(
        VendorJob.objects.values_list("status").annotate(n=Count("pk")).order_by()
    )
    deferred = VendorJob.objects.filter(
        status=JobStatus.PENDING, next_attempt_at__isnull=False
    ).count()
    results = VendorJob.objects.filter(result_status=ResultStatus.PENDING).count()
    rows = [
        ("Waiting to send", by_status.get(JobStatus.PENDING, 0) - deferred,
         "status__exact=pending"),
        ("Deferred (rate limit or retry)", deferred, "status__exact=pending"),
        ("Sending now", by_status.get(JobStatus.SENDING, 0), "status__exact=sending"),
        ("Submitted", by_status.get(JobStatus.SUBMITTED, 0), "status__exact=submitted"),
        ("Processing at the vendor", by_status.get(JobStatus.PROCESSING, 0),
         "status__exact=processing"),
        ("Results to download", results, "result_status__exact=pending"),
        ("Errors", by_status.get(JobStatus.ERROR, 0) + by_status.get(JobStatus.PARTIAL, 0),
         "status__exact=error"),
        ("Manual tasks", by_status.get(JobStatus.MANUAL, 0), "status__exact=manual"),
    ]
    schedule = Schedule.objects.filter(func="cases.tasks.sync_vendor_jobs").first()
    return WorkSummary(
        counts=rows,
        queued_tasks=OrmQ.objects.count(),
        next_sync=schedule.next_run if schedule else None,
    )


@register.simple_tag(takes_context=True)
def vendor_work(context) -> WorkSummary | None:
    """`{% vendor_work as work %}`: None for users who may not see vendor jobs."""
    if not context["request"].user.has_perm("cases.view_vendorjob"):
        return None
    return vendor_work_summary()


@register.filter
def message_status_badge(message) -> SafeString:
    return format_html(
        '<span class="pd-pill pd-msg-{}">{}</span>', message.status, message.get_status_display()
    )


@register.filter
def acknowledgement_badge(case: Case, today: dt.date | None = None) -> SafeString | str:
    """'ack by 2026-12-10' while the law's acknowledgement is due, 'ack overdue' past it."""
    if case.acknowledged_at or not case.acknowledge_by or not case.is_open:
        return ""
    today = today or timezone.localdate()
    overdue = case.acknowledge_by < today
    return format_html(
        '<span class="pd-pill pd-ack-{}" title="{}">{} {}</span>',
        "overdue" if overdue else "due",
        "The law's deadline to acknowledge receipt; the acknowledgement has not gone out.",
        "ack overdue since" if overdue else "ack by",
        case.acknowledge_by.isoformat(),
    )
