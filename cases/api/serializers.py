"""Request and response bodies of the API.

Input is validated field by field so a 400 names every problem at once; the checks themselves
are the shared ones in `cases.validators` and `cases.choices`, so the API, the admin and the
services agree. Responses carry ids, codes, dates and statuses only: no subject name, email or
identity value ever leaves through the API (the ticketing system already has them).
"""

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases import validators
from cases.choices import (
    ADOBE_PRODUCTS,
    MAX_IDENTITIES_PER_USER,
    VERIFICATION_NOTE_REQUIRED,
    Action,
    CaseStatus,
    IdentityType,
    Regulation,
    VerificationMethod,
    regulation_error,
)
from cases.models import AuditEvent, Case, Message, ResultFile, VendorJob

# A ticketing system's clock may run slightly ahead of ours (the services allow the same).
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_IDENTITIES = 50


def _encodable(value: str) -> None:
    # JSON may carry lone surrogates ("\ud800"); they cannot be encrypted or stored as UTF-8.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise serializers.ValidationError("Text must be valid Unicode.") from None


class TextField(serializers.CharField):
    """A CharField that also refuses text that cannot be stored (NUL is refused by DRF)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(_encodable)


def django_errors(exc: DjangoValidationError, field: str) -> list[str]:
    """The messages a shared validator gave for `field` (or all of them)."""
    if hasattr(exc, "message_dict"):
        return exc.message_dict.get(field) or [m for ms in exc.message_dict.values() for m in ms]
    return exc.messages


class RegulationField(serializers.ChoiceField):
    """Adobe's regulation codes; a retired code is refused naming its replacement."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Regulation.choices, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("Give the regulation code as a string.")
        message = regulation_error(data)
        if message:
            raise serializers.ValidationError(message)
        return data


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must name its time zone (a deadline depends on the day)."""

    def enforce_timezone(self, value: dt.datetime) -> dt.datetime:
        if timezone.is_naive(value):
            raise serializers.ValidationError("Give a time zone (e.g. 2026-11-20T10:00:00Z).")
        return super().enforce_timezone(value)


class SubjectSerializer(serializers.Serializer):
    """The person making the request. Stored encrypted; never returned by the API."""

    name = TextField(max_length=200, required=False, allow_blank=True, default="")
    email = serializers.EmailField(max_length=254, validators=[_encodable])


class IdentitySerializer(serializers.Serializer):
    namespace = TextField(
        max_length=64,
        help_text="Adobe namespace (email, ecid, phone, gaid, idfa, ...), a custom one with "
        "type `custom`, or ID5's id5id / partnerUid.",
    )
    value = TextField(max_length=validators.MAX_IDENTITY_LENGTH, trim_whitespace=False)
    type = serializers.ChoiceField(
        choices=IdentityType.choices, default=IdentityType.STANDARD, required=False
    )


class VerificationSerializer(serializers.Serializer):
    """How the subject's identity is (to be) checked, given at intake."""

    method = serializers.ChoiceField(
        choices=VerificationMethod.choices,
        help_text="`email_link`: Privacy Desk emails the subject a link to confirm; the case "
        "waits in `new` until they do. Any other method records that it was checked already.",
    )
    note = TextField(
        max_length=2000, required=False, allow_blank=True, default="",
        help_text="The evidence, e.g. which check your system made; stored encrypted, never "
        "returned. Required for `document` and `other`.",
    )

    def validate(self, data: dict) -> dict:
        if data["method"] in VERIFICATION_NOTE_REQUIRED and not data.get("note", "").strip():
            raise serializers.ValidationError(
                {"note": [f"Method '{data['method']}' needs a note saying what was checked."]}
            )
        return data


class VerificationStateSerializer(serializers.Serializer):
    """The case's verification as the API shows it: never the evidence note."""

    method = serializers.ChoiceField(
        source="verification_method", choices=VerificationMethod.choices, allow_null=True,
        read_only=True,
        help_text="How the identity was (or, with `email_link` and no `verified_at`, is being) "
        "checked; null when nothing was chosen yet.",
    )
    verified_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When it was verified; null until then."
    )

    def to_representation(self, case: Case) -> dict:
        data = super().to_representation(case)
        data["method"] = data["method"] or None
        return data


ADOBE_PRODUCTS_HELP = (
    "Adobe Privacy Service product codes (case-insensitive): " + ", ".join(ADOBE_PRODUCTS) + ". "
    "Empty means the server's default products."
)


class CaseCreateSerializer(serializers.Serializer):
    """`POST /api/v1/cases/`: one ticket becomes one case."""

    external_ref = TextField(
        max_length=100, help_text="The ticket id; unique per API client, the idempotency key."
    )
    regulation = RegulationField(
        help_text="Adobe's regulation code. Codes retired on 2025-07-28 (cpra_usa, vcdpa_usa, "
        "ucpa_usa, cpa, ctdpa) are refused with the code that replaces them."
    )
    actions = serializers.ListField(
        child=serializers.ChoiceField(choices=Action.choices), allow_empty=False, max_length=2
    )
    received_at = AwareDateTimeField(
        required=False,
        help_text="When the request reached you, with a time zone; not in the future nor more "
        "than MAX_RECEIPT_AGE_DAYS (default 365) days ago. Default: now. The legal deadline runs "
        "from this date.",
    )
    subject = SubjectSerializer()
    identities = IdentitySerializer(
        many=True,
        max_length=MAX_IDENTITIES,
        help_text=f"At least one; at most {MAX_IDENTITIES_PER_USER} that go to Adobe "
        "(every namespace but id5id and partnerUid).",
    )
    vendors = serializers.ListField(
        child=TextField(max_length=30),
        required=False,
        default=list,
        max_length=5,
        help_text="Vendors to send to: adobe_privacy, id5. Empty means every applicable one.",
    )
    adobe_products = serializers.ListField(
        child=TextField(max_length=50),
        required=False,
        default=list,
        max_length=len(ADOBE_PRODUCTS),
        help_text=ADOBE_PRODUCTS_HELP,
    )
    submit = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: send to the vendors without an officer's review: at once, with the "
        "caller vouching for the subject's identity (`ticketing_system`) unless `verification` "
        "says otherwise; with `email_link`, as soon as the subject confirms.",
    )
    verification = VerificationSerializer(
        required=False,
        help_text="Optional. How the subject's identity is checked; see `method`.",
    )

    def validate_received_at(self, value: dt.datetime) -> dt.datetime:
        if value > timezone.now() + CLOCK_SKEW:
            raise serializers.ValidationError("The receipt date cannot be in the future.")
        too_old = validators.receipt_age_error(value)
        if too_old:
            raise serializers.ValidationError(too_old)
        return value

    def validate_identities(self, value: list[dict]) -> list[dict]:
        try:
            return validators.validate_identities(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(django_errors(exc, "identities")) from None

    def validate_vendors(self, value: list[str]) -> list[str]:
        try:
            return validators.validate_vendors(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(django_errors(exc, "vendors")) from None

    def validate_adobe_products(self, value: list[str]) -> list[str]:
        try:
            return validators.validate_adobe_products(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(django_errors(exc, "adobe_products")) from None


def canonical_intake(data: dict[str, Any]) -> str:
    """The validated request in one canonical form: equal requests give equal strings."""
    received_at = data.get("received_at")
    canonical = {
        "external_ref": data["external_ref"],
        "regulation": data["regulation"],
        "actions": sorted(set(data["actions"])),
        "received_at": received_at.astimezone(dt.UTC).isoformat() if received_at else None,
        "subject": [data["subject"].get("name", "").strip(), data["subject"]["email"].strip()],
        "identities": sorted([i["namespace"], i["value"], i["type"]] for i in data["identities"]),
        "vendors": sorted(data.get("vendors", [])),
        "adobe_products": sorted(data.get("adobe_products", [])),
        "submit": bool(data.get("submit")),
    }
    verification = data.get("verification")
    if verification:  # only when given, so requests from before it existed still match
        canonical["verification"] = [verification["method"], verification.get("note", "").strip()]
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"))


class VendorJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = VendorJob
        fields = [
            "vendor",
            "action",
            "status",
            "vendor_status",
            "request_id",
            "vendor_job_id",
            "created_at",
            "submitted_at",
            "completed_at",
            "last_synced_at",
            "updated_at",
        ]
        read_only_fields = fields


class ResultFileSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ResultFile
        fields = ["id", "name", "size", "sha256", "downloaded_at", "purge_after", "download_url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, result: ResultFile) -> str:
        path = reverse("api:case-download", args=[result.case_id, result.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class MessageSummarySerializer(serializers.ModelSerializer):
    """A message to the subject as the API shows it: never its text or its recipient."""

    class Meta:
        model = Message
        fields = ["kind", "status", "sent_at"]
        read_only_fields = fields


class ResponseStateSerializer(serializers.Serializer):
    """The response as the API shows it: when it was sent, until when its link works, how often
    the subject downloaded it. Never the link, the file or the recipient."""

    sent_at = serializers.DateTimeField(read_only=True)
    expires_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the newest link to it stops working."
    )
    downloads = serializers.IntegerField(read_only=True, help_text="Downloads so far.")


class CaseSerializer(serializers.ModelSerializer):
    """A case as the ticketing system sees it: status, deadline, jobs and results."""

    status = serializers.ChoiceField(choices=CaseStatus.choices, read_only=True)
    regulation = serializers.ChoiceField(choices=Regulation.choices, read_only=True)
    actions = serializers.ListField(
        source="action_list", child=serializers.ChoiceField(choices=Action.choices),
        read_only=True,
    )
    due_at = serializers.DateField(
        source="due_date",
        read_only=True,
        help_text=f"The legal deadline: the last day to respond, in {settings.TIME_ZONE}, "
        "extensions and holds included.",
    )
    days_left = serializers.SerializerMethodField(
        help_text="Days until the deadline (negative when overdue); null while the clock is "
        "stopped (on hold, completed) or the case has ended."
    )
    vendor_jobs = VendorJobSerializer(source="jobs", many=True, read_only=True)
    results = ResultFileSerializer(many=True, read_only=True)
    verification = VerificationStateSerializer(
        source="*", read_only=True,
        help_text="How and when the subject's identity was verified (never the evidence).",
    )
    messages = MessageSummarySerializer(
        many=True, read_only=True,
        help_text="Messages to the data subject, oldest first: kind, status (queued, sent, "
        "failed) and when it was sent.",
    )

    response = serializers.SerializerMethodField(
        help_text="The response sent to the subject through the portal; null before sending."
    )

    class Meta:
        model = Case
        fields = [
            "id",
            "reference",
            "external_ref",
            "status",
            "status_changed_at",
            "regulation",
            "actions",
            "received_at",
            "due_at",
            "days_left",
            "vendor_jobs",
            "results",
            "verification",
            "acknowledged_at",
            "messages",
            "response",
        ]
        read_only_fields = fields

    @extend_schema_field(ResponseStateSerializer(allow_null=True))
    def get_response(self, case: Case) -> dict | None:
        from cases import responses

        state = responses.response_state(case)
        return ResponseStateSerializer(state).data if state else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_days_left(self, case: Case) -> int | None:
        return case.days_left()


class CaseFilterSerializer(serializers.Serializer):
    """Query parameters of the case list."""

    status = serializers.ChoiceField(choices=CaseStatus.choices, required=False)
    regulation = serializers.ChoiceField(choices=Regulation.choices, required=False)
    external_ref = TextField(max_length=100, required=False)
    overdue = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only open cases past their deadline; false: every other case.",
    )


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "created_at",
            "actor_type",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "details",
        ]
        read_only_fields = fields


class ErrorSerializer(serializers.Serializer):
    """Every non-validation error: 401, 403, 404, 409, 429."""

    detail = serializers.CharField()


# 400 bodies map each field to its messages (nested objects for `subject` and per-item
# objects or index maps for lists), plus `non_field_errors` for a body that is not an object.
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": "Field name → list of messages (or, for nested fields, an object of them).",
    "additionalProperties": {
        "oneOf": [
            {"type": "array", "items": {}},
            {"type": "object"},
            {"type": "string"},
        ]
    },
}
