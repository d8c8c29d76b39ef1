"""The domain of a data subject request: who, what they asked, where it went, what came back.

Models hold state and guards; every write goes through `cases.services`, which also audits it.
"""

import datetime as dt
import hashlib
import hmac
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils import timezone

from cases import deadlines
from cases.choices import (
    CASE_TERMINAL,
    CASE_TRANSITIONS,
    JOB_ACTIVE,
    ActorType,
    ApiScope,
    CaseActions,
    CaseStatus,
    IdentityType,
    JobStatus,
    MessageKind,
    MessageStatus,
    Regulation,
    RejectionReason,
    ResponseStatus,
    ResultStatus,
    TokenPurpose,
    TokenState,
    Vendor,
    VerificationMethod,
    WebhookStatus,
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

    def awaiting_acknowledgement(self):
        """Open cases whose law sets an acknowledgement deadline, not yet acknowledged."""
        return self.open().filter(acknowledge_by__isnull=False, acknowledged_at__isnull=True)

    def acknowledgement_overdue(self, today: dt.date | None = None):
        today = today or timezone.localdate()
        return self.awaiting_acknowledgement().filter(acknowledge_by__lt=today)

    def with_failed_messages(self):
        return self.filter(pk__in=Message.objects.filter(status=MessageStatus.FAILED)
                           .values("case_id"))

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
        verbose_name="API client",
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
    verification_method = models.CharField(
        max_length=20, blank=True, choices=VerificationMethod.choices
    )
    verified_by = models.CharField(
        max_length=150, blank=True,
        help_text="Who recorded the verification: an officer, an API client, or the subject.",
    )
    verification_note = EncryptedTextField(
        blank=True, help_text="The evidence: what was checked (encrypted: it may name the person)."
    )
    submit_on_verify = models.BooleanField(
        default=False,
        help_text="Send to the vendors as soon as the subject confirms the email link "
        "(API `submit: true` with `email_link`).",
    )
    acknowledge_by = models.DateField(
        null=True, blank=True, help_text="The law's deadline to acknowledge receipt, if it has one."
    )
    acknowledged_at = models.DateTimeField(
        null=True, blank=True, help_text="When the acknowledgement went out to the subject."
    )
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
        indexes = [
            models.Index(fields=["status", "due_date"]),
            # The lists' sort orders, so a page of 50 is read off an index whatever the size:
            # the admin's (due date; by status or regulation) and the API's (by client, id).
            models.Index(fields=["due_date", "id"], name="case_due_order_idx"),
            models.Index(fields=["regulation", "due_date", "id"], name="case_regulation_due_idx"),
            models.Index(fields=["api_client", "id"], name="case_client_order_idx"),
        ]
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
        self.set_value_index()
        super().save(*args, **kwargs)

    def set_value_index(self) -> None:
        """Compute the blind index; `bulk_create` skips `save`, so its callers call this."""
        self.value_index = blind_index(f"{self.namespace}:{self.value}")


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
    unknown_send_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When a send whose outcome is unknown went out, while ID5's one automatic "
                  "resend of it is due (ID5 cannot be searched).",
    )
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
        # Names the case by its reference: lists that show jobs select_related("case").
        return f"{self.get_vendor_display()} {self.action} for {self.case.reference}"

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


def validate_webhook_url(value: str) -> None:
    # URLField already checks the shape; only plain web schemes make sense for a POST.
    if value and not value.lower().startswith(("http://", "https://")):
        raise ValidationError("A webhook URL must start with http:// or https://.")


def validate_scopes(value) -> None:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValidationError("Scopes must be a list of strings.")
    unknown = sorted(set(value) - set(ApiScope.values))
    if unknown:
        raise ValidationError(
            f"Unknown scope(s) {unknown}; choose from {', '.join(ApiScope.values)}."
        )


def hash_api_key(key: str) -> str:
    """SHA-256 is enough: keys are 256-bit random, so there is nothing to brute-force."""
    return hashlib.sha256(key.encode()).hexdigest()


# Keys read `pdk_<prefix>_<secret>`: a recognisable prefix lets secret scanners spot leaked keys.
API_KEY_PREFIX = "pdk"


class ApiClientQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(is_active=True, revoked_at__isnull=True)

    def for_key(self, key: str) -> "ApiClient | None":
        """The usable client holding `key`, or None. Keys read `pdk_<prefix>_<secret>`."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
            return None
        client = self.usable().filter(key_prefix=parts[1]).first()
        if client is None or not hmac.compare_digest(client.key_hash, hash_api_key(key)):
            return None
        return client


class ApiClient(models.Model):
    """A machine client of the REST API, such as the ticketing system.

    The key is shown once when issued; only its prefix (to find the row) and a hash are kept.
    """

    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(
        default=True, help_text="Untick to suspend the client; revoking is permanent."
    )
    scopes = models.JSONField(
        default=list, blank=True, validators=[validate_scopes],
        help_text=f"Any of: {', '.join(ApiScope.values)}.",
    )
    key_prefix = models.CharField(
        max_length=16, unique=True, null=True, blank=True, editable=False,
        help_text="The public part of the key, shown to tell keys apart.",
    )
    key_hash = models.CharField(max_length=64, blank=True, editable=False)
    webhook_url = models.URLField(
        "webhook URL", max_length=500, blank=True, validators=[validate_webhook_url],
        help_text="Status changes of this client's cases are POSTed here (http or https).",
    )
    webhook_secret = EncryptedTextField(
        blank=True, editable=False, help_text="Signs webhook bodies (HMAC-SHA256)."
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ApiClientQuerySet.as_manager()

    class Meta:
        verbose_name = "API client"

    def __str__(self) -> str:
        return self.name

    @property
    def is_usable(self) -> bool:
        return self.is_active and self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class IdempotencyRecord(models.Model):
    """The first answer to a request sent with an `Idempotency-Key`, replayed for repeats.

    The unique (client, key) pair makes concurrent duplicates collide in the database instead of
    racing a check. The body is stored as the exact bytes sent (it holds no personal data).
    """

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    response_status = models.PositiveSmallIntegerField()
    response_body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotency_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.client_id}: {self.key}"


class CaseIntake(models.Model):
    """A keyed hash of the request that opened a case through the API.

    A repeat with the same `external_ref` is answered with the case when its hash matches, and
    refused as a conflict when it does not. The hash is an HMAC (a blind index), never the data.
    """

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="intake")
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Intake of {self.case_id}"


class WebhookDelivery(models.Model):
    """One event to POST to a client's webhook URL, with its attempts and their outcome."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="deliveries")
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_deliveries"
    )
    event = models.CharField(max_length=50)
    payload = models.JSONField(help_text="Ids, codes and dates only: never personal data.")
    status = models.CharField(
        max_length=20, choices=WebhookStatus.choices, default=WebhookStatus.PENDING,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} to {self.client_id} ({self.status})"


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


class MessageTemplate(models.Model):
    """The subject line and body of one kind of message, editable by officers.

    Placeholders such as `{reference}` are filled in per case (`cases.messaging`); a template
    naming an unknown placeholder is refused on save.
    """

    kind = models.CharField(max_length=30, choices=MessageKind.choices, unique=True)
    subject = models.CharField("subject line", max_length=200)
    body = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind"]

    def __str__(self) -> str:
        return self.get_kind_display()

    def clean(self) -> None:
        from cases.messaging import check_placeholders

        errors = {}
        for name in ("subject", "body"):
            problem = check_placeholders(getattr(self, name), self.kind)
            if problem:
                errors[name] = problem
        if errors:
            raise ValidationError(errors)


class Message(models.Model):
    """One email to the data subject. Address and text are encrypted at rest; the audit trail
    holds only the kind, the id and the body's SHA-256."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=30, choices=MessageKind.choices)
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED, db_index=True
    )
    recipient = EncryptedTextField()
    subject = EncryptedTextField()
    body = EncryptedTextField()
    body_sha256 = models.CharField("body SHA-256", max_length=64)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, help_text="The mail server's reason, if any.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker took the message to send it."
    )
    queued_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["queued_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class Note(models.Model):
    """An officer's words about a case. The text is encrypted at rest (it may name the subject);
    the audit trail records the note's id only."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    text = EncryptedTextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    # A copy of who wrote it, so the note stays attributed after the account is gone.
    author_label = models.CharField("by", max_length=150)
    created_at = models.DateTimeField("written", default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Note #{self.pk}"


def attachment_upload_to(instance: "Attachment", filename: str) -> str:
    # A random name: the officer's filename (which may name the subject) never reaches the disk.
    return f"attachments/{uuid.uuid4().hex}.bin"


class Attachment(models.Model):
    """A file an officer attached to a case (e.g. a vendor's answer to a manual task, an ID
    document). The stored file is the Fernet token of the bytes; `sha256` is of the plaintext."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    job = models.ForeignKey(
        VendorJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments",
        help_text="The manual task this file answers, if any.",
    )
    file = models.FileField(upload_to=attachment_upload_to, max_length=255)
    name = models.CharField(max_length=255, help_text="The original filename, sanitised.")
    size = models.PositiveBigIntegerField(help_text="Bytes, before encryption.")
    sha256 = models.CharField("SHA-256", max_length=64)
    include_in_response = models.BooleanField(
        "include in the response", default=False,
        help_text="Send this file to the subject with the response package.",
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    added_by_label = models.CharField("added by", max_length=150)
    added_at = models.DateTimeField("added", default=timezone.now)

    class Meta:
        ordering = ["added_at", "id"]

    def __str__(self) -> str:
        return self.name


def hash_portal_token(token: str) -> str:
    """Only this is stored: the token is 256 random bits, so a plain SHA-256 cannot be reversed."""
    return hashlib.sha256(token.encode()).hexdigest()


class PortalToken(models.Model):
    """A personal link to the subject portal (`/portal/<purpose>/<token>/`).

    The token itself goes only into the message to the subject; the row keeps its SHA-256, its
    single purpose, when it expires and whether it was used or revoked.
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="portal_tokens")
    purpose = models.CharField(max_length=10, choices=TokenPurpose.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The message that carried the link.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} link #{self.pk}"

    def state(self, now: dt.datetime | None = None) -> str:
        """Used and revoked win over expired: the page then says what really happened."""
        if self.used_at:
            return TokenState.USED
        if self.revoked_at:
            return TokenState.REVOKED
        if self.expires_at <= (now or timezone.now()):
            return TokenState.EXPIRED
        return TokenState.VALID


class OutOfBandNotice(models.Model):
    """An officer told the subject another way (phone, letter) instead of sending a message.

    The note is encrypted (it may name the person); the audit trail holds the kind only.
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="out_of_band_notices")
    kind = models.CharField(max_length=30, choices=MessageKind.choices)
    note = EncryptedTextField()
    recorded_by = models.CharField(max_length=150, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["recorded_at", "id"]
        verbose_name = "notice given another way"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} told another way"


def response_upload_to(instance: "ResponsePackage", filename: str) -> str:
    # A random name: never guessable, and the storage is never served by URL (the portal and the
    # officers' preview stream it through audited views).
    return f"responses/{uuid.uuid4().hex}.zip"


class ResponsePackage(models.Model):
    """What the subject receives: a ZIP with report.html and/or deletion_confirmation.html, the
    vendors' files, the attachments chosen and MANIFEST.csv. Regenerated freely while a draft;
    sending freezes it (its SHA-256 is recorded). Retention purges the file and keeps the
    hash and the manifest as proof."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="response_package")
    status = models.CharField(
        max_length=10, choices=ResponseStatus.choices, default=ResponseStatus.DRAFT
    )
    file = models.FileField(upload_to=response_upload_to, max_length=255, blank=True)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    manifest = models.JSONField(
        default=list, blank=True, help_text="One row per file: path, size, sha256, source."
    )
    exclusions = models.JSONField(
        default=list, blank=True,
        help_text="Files left out by an officer: source, id and reason (the reason is shown to "
        "officers only; the audit trail records the file's id).",
    )
    deletion_confirmation = models.TextField(
        blank=True, help_text="The deletion confirmation letter (HTML), kept for the case file."
    )
    max_downloads = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.CharField(max_length=150, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    purge_after = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "response package"

    def __str__(self) -> str:
        return f"Response package of {self.case.reference}" if self.case_id else "Response package"

    @property
    def filename(self) -> str:
        return f"response-{self.case.reference}.zip"

    def current_token(self) -> "PortalToken | None":
        """The newest response link of the case (the one the subject was last sent)."""
        return self.case.portal_tokens.filter(purpose=TokenPurpose.RESPONSE).first()


class ResponseDownload(models.Model):
    """One download of the response package through one portal link."""

    package = models.ForeignKey(
        ResponsePackage, on_delete=models.CASCADE, related_name="downloads"
    )
    token = models.ForeignKey(PortalToken, on_delete=models.CASCADE, related_name="downloads")
    downloaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["downloaded_at", "id"]

    def __str__(self) -> str:
        return f"Download #{self.pk} of {self.package_id}"


class VendorCallStat(models.Model):
    """Running totals of vendor calls, for /metrics: one row per vendor, operation, outcome and
    latency bucket, incremented in place by whichever process made the call (web or worker).

    `le_ms` is the bucket's upper bound in milliseconds (a Prometheus histogram's `le`), or
    `INF_MS` for calls slower than every bound. Ids and codes only, like the audit trail."""

    INF_MS = -1

    vendor = models.CharField(max_length=20)
    operation = models.CharField(max_length=50)
    outcome = models.CharField(max_length=30, help_text="ok, or the error's kind.")
    le_ms = models.IntegerField("bucket (ms)")
    calls = models.PositiveBigIntegerField(default=0)
    total_ms = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["vendor", "operation", "outcome", "le_ms"], name="vendorcallstat_one_row"
            )
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.operation} {self.outcome} ≤{self.le_ms} ms"
