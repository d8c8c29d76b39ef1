"""The domain of a data subject request: who, what they asked, where it went, what came back.

Models hold state and guards; every write goes through `cases.services`, which also audits it.
"""

import datetime as dt

from django.conf import settings
from django.core.validators import validate_email
from django.db import models
from django.utils import timezone

from cases import deadlines
from cases.choices import (
    CASE_TERMINAL,
    CASE_TRANSITIONS,
    JOB_ACTIVE,
    ActorType,
    CaseActions,
    CaseStatus,
    IdentityType,
    JobStatus,
    Regulation,
    RejectionReason,
    ResultStatus,
    Vendor,
)
from cases.crypto import EncryptedTextField, blind_index, blind_index_candidates

# A hold pauses the clock; a completed case has its answer and is waiting to be closed.
CLOCK_STOPPED = frozenset({CaseStatus.ON_HOLD, CaseStatus.COMPLETED})


class TransitionError(Exception):
    """A status change the workflow does not allow; the message says why, for an officer."""


class ReferenceCounter(models.Model):
    """Last case number handed out per year, so references read DSAR-2026-000123."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class CaseQuerySet(models.QuerySet):
    def open(self):
        return self.exclude(status__in=CASE_TERMINAL)

    def overdue(self, today: dt.date | None = None):
        today = today or timezone.localdate()
        return self.open().exclude(status__in=[CaseStatus.COMPLETED, CaseStatus.ON_HOLD]).filter(
            due_date__lt=today
        )

    def due_within(self, days: int, today: dt.date | None = None):
        today = today or timezone.localdate()
        return (
            self.open()
            .exclude(status__in=[CaseStatus.COMPLETED, CaseStatus.ON_HOLD])
            .filter(due_date__gte=today, due_date__lte=today + dt.timedelta(days=days))
        )

    def with_subject_email(self, email: str):
        return self.filter(subject__email_index__in=blind_index_candidates(email))


class Case(models.Model):
    """One data subject request, from receipt to the response delivered."""

    reference = models.CharField(max_length=32, unique=True, editable=False)
    external_ref = models.CharField(
        "external reference", max_length=100, blank=True, help_text="The ticket id, if any."
    )
    api_client = models.ForeignKey(
        "cases.ApiClient",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
        help_text="The ticketing client that opened the case through the API.",
    )
    regulation = models.CharField(max_length=20, choices=Regulation.choices)
    actions = models.CharField(max_length=20, choices=CaseActions.choices)
    vendors = models.JSONField(
        default=list, blank=True, help_text="Vendors to route to; empty means every applicable."
    )
    adobe_products = models.JSONField(
        default=list, blank=True, help_text="Adobe product codes; empty means the default setting."
    )
    id5_jurisdiction = models.CharField(
        "ID5 jurisdiction",
        max_length=4,
        blank=True,
        choices=[("GDPR", "GDPR"), ("CCPA", "CCPA")],
        help_text="Overrides the jurisdiction derived from the regulation.",
    )
    received_at = models.DateTimeField()
    due_date = models.DateField(help_text="The legal deadline to respond, holds included.")
    original_due_date = models.DateField(help_text="The deadline before any extension or hold.")

    status = models.CharField(
        max_length=20, choices=CaseStatus.choices, default=CaseStatus.NEW, db_index=True
    )
    status_reason = models.TextField(
        blank=True, help_text="Why the case is on hold, rejected or needs action."
    )
    status_changed_at = models.DateTimeField(default=timezone.now)
    rejection_code = models.CharField(max_length=30, blank=True, choices=RejectionReason.choices)

    hold_started_on = models.DateField(null=True, blank=True)
    hold_days_remaining = models.IntegerField(null=True, blank=True)
    status_before_hold = models.CharField(max_length=20, blank=True, choices=CaseStatus.choices)

    extended_at = models.DateTimeField(null=True, blank=True)
    extension_reason = models.TextField(blank=True)

    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["api_client", "external_ref"],
                condition=~models.Q(external_ref=""),
                name="case_unique_external_ref_per_client",
            ),
        ]
        indexes = [models.Index(fields=["status", "due_date"])]
        permissions = [("export_audit", "Can export the audit trail")]

    def __str__(self) -> str:
        return self.reference

    @property
    def action_list(self) -> list[str]:
        return self.actions.split(",")

    @property
    def rule(self) -> deadlines.DeadlineRule:
        return deadlines.rule_for(self.regulation)

    @property
    def is_open(self) -> bool:
        return self.status not in CASE_TERMINAL

    def days_left(self, today: dt.date | None = None) -> int | None:
        """Days until the deadline; None when the clock is not running (hold, answered, ended)."""
        if self.status in CASE_TERMINAL or self.status in CLOCK_STOPPED:
            return None
        return deadlines.days_left(self.due_date, today or timezone.localdate())

    def deadline_band(self, today: dt.date | None = None) -> str | None:
        left = self.days_left(today)
        return None if left is None else deadlines.deadline_band(left)

    def check_transition(self, new_status: str) -> None:
        if new_status not in CASE_TRANSITIONS[self.status]:
            raise TransitionError(
                f"Case {self.reference} is {self.get_status_display().lower()} and cannot become "
                f"{CaseStatus(new_status).label.lower()}."
            )


class DataSubject(models.Model):
    """The person who made the request. Name and email are encrypted at rest."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="subject")
    name = EncryptedTextField(blank=True)
    email = EncryptedTextField(blank=True, validators=[validate_email])
    email_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)

    class Meta:
        verbose_name = "data subject"

    def __str__(self) -> str:
        return f"Subject of {self.case.reference}" if self.case_id else "Data subject"

    def save(self, *args, **kwargs) -> None:
        self.email_index = blind_index(self.email) if self.email else ""
        super().save(*args, **kwargs)


class Identity(models.Model):
    """One identifier of the subject at a vendor: (namespace, value, type). Value encrypted."""

    subject = models.ForeignKey(DataSubject, on_delete=models.CASCADE, related_name="identities")
    namespace = models.CharField(max_length=64)
    type = models.CharField(max_length=20, choices=IdentityType.choices, default="standard")
    value = EncryptedTextField()
    value_index = models.CharField(max_length=64, db_index=True, editable=False)

    class Meta:
        verbose_name_plural = "identities"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.namespace} identity"

    def save(self, *args, **kwargs) -> None:
        self.value_index = blind_index(f"{self.namespace}:{self.value}")
        super().save(*args, **kwargs)


class VendorJob(models.Model):
    """One unit of work at one vendor for one case and action."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="jobs")
    vendor = models.CharField(max_length=20, choices=Vendor.choices)
    action = models.CharField(max_length=10, choices=[("access", "Access"), ("delete", "Delete")])
    status = models.CharField(
        max_length=20, choices=JobStatus.choices, default=JobStatus.PENDING, db_index=True
    )
    products = models.JSONField(default=list, blank=True, help_text="Adobe product codes sent.")
    jurisdiction = models.CharField(max_length=4, blank=True, help_text="ID5 jurisdiction.")
    request_id = models.CharField("vendor request id", max_length=100, blank=True)
    vendor_job_id = models.CharField(
        "vendor job id", max_length=100, blank=True, db_index=True,
        help_text="Adobe jobId, Data Hygiene workorderId or ID5 id.",
    )
    vendor_status = models.CharField(max_length=50, blank=True)
    result_codes = models.JSONField(default=list, blank=True)
    product_statuses = models.JSONField(default=dict, blank=True)
    result_status = models.CharField(
        max_length=20, blank=True, choices=ResultStatus.choices, default=ResultStatus.NONE
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, help_text="Officer's note, e.g. on a manual job.")
    sending_started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["case", "vendor", "action"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "vendor", "action"], name="vendorjob_one_per_case_vendor_action"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_vendor_display()} {self.action} for {self.case_id}"

    @property
    def is_active(self) -> bool:
        return self.status in JOB_ACTIVE


def result_upload_to(instance: "ResultFile", filename: str) -> str:
    return f"results/{instance.case.reference}/{filename}"


class ResultFile(models.Model):
    """A file a vendor returned (usually a ZIP), checked, hashed and attached to the case."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="results")
    job = models.ForeignKey(
        VendorJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="results"
    )
    file = models.FileField(upload_to=result_upload_to, max_length=255)
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField("SHA-256", max_length=64)
    entries = models.JSONField(default=list, blank=True, help_text="The ZIP's listing.")
    downloaded_at = models.DateTimeField(default=timezone.now)
    purge_after = models.DateTimeField()

    class Meta:
        ordering = ["-downloaded_at"]

    def __str__(self) -> str:
        return self.name


class ApiClient(models.Model):
    """A machine client of the REST API, such as the ticketing system."""

    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only.")

    def delete(self):
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    """Append-only record of one thing done. Ids and codes only: never personal data or secrets.

    Each event stores the previous event's hash and its own hash over that and its fields, so any
    edit, deletion or reordering breaks the chain (see `cases.audit`).
    """

    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_type = models.CharField(max_length=20, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    # A copy of the reference keeps the event readable whatever happens to the case.
    case = models.ForeignKey(
        Case,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="audit_events",
    )
    case_reference = models.CharField(max_length=32, blank=True)
    object_type = models.CharField(max_length=50, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["case", "seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")
