"""Forms for the officers' admin: case intake and the reasons/choices workflow steps ask for.

They only collect and check input; the writes happen in `cases.services`, whose ValidationErrors
are put back on the matching field so the officer sees them where they typed.
"""

from collections.abc import Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from cases import messaging, services
from cases.audit import Actor
from cases.choices import (
    Action,
    IdentityType,
    JobStatus,
    Regulation,
    RejectionReason,
    Vendor,
    VerificationMethod,
)
from cases.crypto import normalise
from cases.models import Case, DataSubject, Identity, VendorJob
from cases.validators import (
    INTAKE_VENDORS,
    validate_identities,
    validate_regulation,
)

_REASON_WIDGET = forms.Textarea(attrs={"rows": 3, "cols": 60})


def add_service_errors(
    form: forms.Form, error: ValidationError, aliases: Mapping[str, str] | None = None
) -> None:
    """Attach a service's ValidationError to the form fields it names (else to the form)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, errors in error.error_dict.items():
        field = (aliases or {}).get(key, key)
        form.add_error(field if field in form.fields else None, errors)


# --- Workflow steps ---------------------------------------------------------------------------


class StepForm(forms.Form):
    """Base of the forms a case step asks for. `case` is set on a case page, None in bulk;
    `cases` is every case the step is about to apply to (that one, or the bulk selection)."""

    def __init__(
        self,
        *args: Any,
        case: Case | None = None,
        cases: list[Case] | None = None,
        **kwargs: Any,
    ) -> None:
        self.case = case
        self.cases = cases if cases is not None else [case] if case is not None else []
        super().__init__(*args, **kwargs)


class HoldForm(StepForm):
    reason = forms.CharField(
        widget=_REASON_WIDGET,
        help_text="Why the clock stops, e.g. waiting for proof of identity. Kept on the case.",
    )


TELL_MESSAGE, TELL_OUT_OF_BAND = "message", "out_of_band"


class TellSubjectForm(StepForm):
    """A step that tells the subject something: by the kind's message (with the reason), or a
    note that the officer told them another way. `told_out_of_band()` is what the service gets."""

    message_label = "the message"
    tell = forms.ChoiceField(
        label="Tell the subject",
        widget=forms.RadioSelect,
        initial=TELL_MESSAGE,
        required=False,  # not given: the message
        choices=[(TELL_MESSAGE, "Email"), (TELL_OUT_OF_BAND, "Another way")],
    )
    told_note = forms.CharField(
        label="How the subject was told",
        widget=_REASON_WIDGET,
        required=False,
        help_text="Only when you told the subject another way: how and when, e.g. 'by phone on "
        "2 January 2027, confirmed by letter'. Kept on the case, encrypted.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tell"].choices = [
            (TELL_MESSAGE, f"Email the subject {self.message_label} with the reason above"),
            (TELL_OUT_OF_BAND, "I told the subject another way (say how below)"),
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("tell") == TELL_OUT_OF_BAND and not cleaned.get("told_note", "").strip():
            self.add_error("told_note", "Say how and when you told the subject.")
        return cleaned


def told_out_of_band(data: Mapping[str, Any]) -> str:
    """The note a step passes to the service: empty means 'send the message'."""
    return data.get("told_note", "") if data.get("tell") == TELL_OUT_OF_BAND else ""


class ExtendForm(TellSubjectForm):
    message_label = "the extension notice"
    field_order = ["reason", "until", "tell", "told_note"]
    reason = forms.CharField(
        widget=_REASON_WIDGET,
        help_text="Why more time is needed; most laws require telling the subject this reason. "
        "It goes into the extension notice as {reason}.",
    )
    until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        label="New due date",
        help_text="Leave empty for the longest extension the law allows.",
    )


class RejectForm(TellSubjectForm):
    message_label = "the rejection"
    field_order = ["code", "reason", "tell", "told_note"]
    code = forms.ChoiceField(label="Reason code", choices=RejectionReason.choices)
    reason = forms.CharField(
        widget=_REASON_WIDGET,
        help_text="The explanation the subject will be given ({reason} in the rejection).",
    )


class VerifyForm(StepForm):
    """How the identity was checked, and the evidence (`services.check_verification` rules)."""

    method = forms.ChoiceField(
        choices=[
            (VerificationMethod.EMAIL_LINK, "Email link: send the subject a link to confirm "
             "(the case stays new until they press Confirm)"),
            *[(value, label) for value, label in VerificationMethod.choices
              if value != VerificationMethod.EMAIL_LINK],
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Evidence",
        widget=_REASON_WIDGET,
        required=False,
        help_text="What was checked, e.g. 'passport: name and photo match, copy not kept'. "
        "Required for an ID document and for Other; stored encrypted.",
    )
    evidence = forms.FileField(
        label="Evidence file",
        required=False,
        help_text="Optional: the document you checked (e.g. a scan as PDF or image). Kept "
        "encrypted as an attachment of the case; leave it out when policy says not to keep "
        "copies of ID documents.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.case is None:
            del self.fields["evidence"]  # in bulk: one person's document fits no other case

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "method" in cleaned:
            try:
                services.check_verification(cleaned["method"], cleaned.get("note", ""))
            except ValidationError as exc:
                add_service_errors(self, exc)
        return cleaned


class AssignForm(StepForm):
    assignee = forms.ModelChoiceField(
        queryset=services.officers(),
        required=False,
        empty_label="Nobody (unassign)",
    )


class CloseForm(StepForm):
    """The delivery note; and, only when a listed case has a failed delete, the officer's
    confirmation and reason (`services.close` refuses such a case without them)."""

    note = forms.CharField(
        label="Closing note",
        widget=_REASON_WIDGET,
        required=False,
        help_text="Optional: anything to keep on the case with its closing.",
    )
    delivered_out_of_band = forms.CharField(
        label="Response delivered another way",
        widget=_REASON_WIDGET,
        required=False,
        help_text="Required when no response was sent through the portal (Send response): how "
        "and when the response reached the subject, e.g. 'handed over in person on 2 January "
        "2027'. Kept encrypted on the case; the audit trail records only that it was given.",
    )
    confirm_failed_deletes = forms.BooleanField(
        label="Close although a delete failed",
        required=False,
        help_text="The deletes listed above did not succeed. Tick only if the subject's data "
        "has been dealt with another way, or cannot be deleted, and say why below.",
    )
    failed_delete_reason = forms.CharField(
        label="Reason for closing with a failed delete",
        widget=_REASON_WIDGET,
        required=False,
        help_text="Required with the box above. Kept on the case; the audit trail records the "
        "failed jobs and your confirmation.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not any(services.failed_deletes(case) for case in self.cases):
            del self.fields["confirm_failed_deletes"]
            del self.fields["failed_delete_reason"]
        from cases import responses

        if self.cases and all(responses.was_sent(case) for case in self.cases):
            self.fields["delivered_out_of_band"].help_text = (
                "Optional: the response was sent through the portal."
            )

    def clean(self) -> dict[str, Any]:
        # The service checks this per case too; here it stops a bulk close before any case moves.
        cleaned = super().clean()
        reason = cleaned.get("failed_delete_reason", "")
        if cleaned.get("confirm_failed_deletes") and not reason.strip():
            self.add_error(
                "failed_delete_reason", "Give the reason for closing a case whose delete failed."
            )
        return cleaned


class RoutingForm(StepForm):
    vendors = forms.MultipleChoiceField(
        choices=[(v, Vendor(v).label) for v in INTAKE_VENDORS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every vendor that applies.",
    )
    adobe_products = forms.CharField(
        required=False,
        help_text="Comma-separated Adobe product codes; empty: ADOBE_DEFAULT_PRODUCTS.",
    )
    id5_jurisdiction = forms.ChoiceField(
        label="ID5 jurisdiction",
        choices=[("", "From the regulation"), ("GDPR", "GDPR"), ("CCPA", "CCPA")],
        required=False,
        help_text="ID5 deletes under GDPR or CCPA only; pick one to send other regulations.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.case is not None and not self.is_bound:
            self.initial = {
                "vendors": self.case.vendors,
                "adobe_products": ", ".join(self.case.adobe_products),
                "id5_jurisdiction": self.case.id5_jurisdiction,
            }

    def clean_adobe_products(self) -> list[str]:
        return [p.strip() for p in self.cleaned_data["adobe_products"].split(",") if p.strip()]


class ManualJobDoneForm(StepForm):
    job = forms.ModelChoiceField(
        queryset=VendorJob.objects.none(),
        help_text="The manual task you have handled outside any API.",
    )
    note = forms.CharField(
        widget=_REASON_WIDGET,
        help_text="What was done, e.g. 'ID5 confirmed by email on 24 Nov that they hold no data'.",
    )
    attachment = forms.FileField(
        label="Vendor's answer",
        required=False,
        help_text="Optional: the vendor's answer as a file (e.g. their email saved as .eml, or a "
        "PDF). Kept encrypted on the case, linked to this job.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manual = VendorJob.objects.filter(status=JobStatus.MANUAL)
        self.fields["job"].queryset = manual.filter(case=self.case) if self.case else manual.none()
        self.fields["job"].label_from_instance = (
            lambda job: f"{job.get_vendor_display()} {job.action}: {job.last_error[:100]}"
        )


class NoteForm(StepForm):
    """A note, a file, or both (`notes.add_note_or_attachment` checks the file's size and type)."""

    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 60}),
        required=False,
        help_text="Your words about the case, e.g. a phone call with the subject. Kept encrypted "
        "and included in the case file.",
    )
    attachment = forms.FileField(
        label="File",
        required=False,
        help_text="Optional. Kept encrypted; allowed types and size are set by "
        "ATTACHMENT_TYPES and ATTACHMENT_MAX_BYTES.",
    )
    include_in_response = forms.BooleanField(
        label="Include the file in the response",
        required=False,
        help_text="Send this file to the subject with the response package.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = filesizeformat(settings.ATTACHMENT_MAX_BYTES)
        self.fields["attachment"].help_text = (
            f"Optional. Kept encrypted. Up to {limit}; types: "
            f"{', '.join(settings.ATTACHMENT_TYPES)}."
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("note", "").strip() and not cleaned.get("attachment"):
            raise ValidationError("Write a note, choose a file, or both.")
        return cleaned


class RecordDeleteForm(StepForm):
    confirm = forms.BooleanField(
        label="I understand that a record delete is for data minimisation, not for answering "
        "a data subject request, and that it cannot be undone.",
    )


# --- Intake -----------------------------------------------------------------------------------


IDENTITY_TYPES_BY_LOWER = {value.lower(): value for value in IdentityType.values}
IDENTITY_LINE_HELP = (
    "One per line: namespace:value, or namespace:value:type with type one of "
    f"{', '.join(IdentityType.values)} (default standard). With two or more ':' the part after "
    "the last one is always the type, so a value containing ':' is written with its type, e.g. "
    "loyaltyId:LOY:42:custom."
)


def _parse_identity_line(line: str) -> dict[str, str]:
    """One 'namespace:value[:type]' line (see IDENTITY_LINE_HELP); ValueError says what is wrong."""
    namespace, sep, rest = line.partition(":")
    if not sep or not rest.strip():
        raise ValueError("write namespace:value, optionally :type at the end.")
    value, id_type = rest, IdentityType.STANDARD
    if ":" in rest:
        value, _, given = rest.rpartition(":")
        id_type = IDENTITY_TYPES_BY_LOWER.get(given.strip().lower(), "")
        if not id_type:
            raise ValueError(
                f"unknown identity type '{given.strip()}' after the last ':'; use one of "
                f"{', '.join(IdentityType.values)}. A value containing ':' needs its type at "
                f"the end, e.g. {line}:standard."
            )
    return {"namespace": namespace.strip(), "value": value.strip(), "type": id_type}


def parse_identity_lines(text: str) -> list[dict[str, str]]:
    """The identities typed at intake, checked as the API checks them; every bad line is
    reported at once, by line number."""
    identities, line_labels, errors = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            identities.append(_parse_identity_line(line))
            line_labels.append(f"Line {number}")
        except ValueError as exc:
            errors.append(f"Line {number}: {exc}")
    if identities:
        try:
            identities = validate_identities(identities, labels=line_labels)
        except ValidationError as exc:
            errors.extend(exc.messages)
    if errors:
        raise ValidationError(sorted(errors, key=_line_number))
    return identities


def _line_number(message: str) -> int:
    # Messages about one line start "Line N:"; list-wide ones (Adobe's limit of 9) come last.
    head = message.split(":", 1)[0]
    return int(head[5:]) if head.startswith("Line ") and head[5:].isdigit() else 1_000_000


class CaseIntakeForm(forms.Form):
    """Open a case taken by email or phone; `create_case` hands it to `services.create_case`."""

    regulation = forms.CharField(
        # A free value behind a select: a retired code pasted from an old ticket gets the
        # service's message naming its replacement rather than "select a valid choice".
        widget=forms.Select(choices=[("", "---------"), *Regulation.choices]),
        help_text="Adobe's regulation code; it sets the legal deadline.",
    )
    actions = forms.MultipleChoiceField(choices=Action.choices, widget=forms.CheckboxSelectMultiple)
    received_at = forms.DateTimeField(
        label="Received at",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="When the request arrived (the clock starts then). Empty means now.",
    )
    subject_name = forms.CharField(label="Subject's name", required=False, max_length=200)
    subject_email = forms.EmailField(label="Subject's email")
    include_email_identity = forms.BooleanField(
        label="Use the subject's email as an identity",
        required=False,
        initial=True,
        help_text="Adds email:<subject's email> to the identities unless already listed.",
    )
    identities = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 60}),
        help_text=IDENTITY_LINE_HELP,
    )
    external_ref = forms.CharField(
        label="External reference", required=False, max_length=100, help_text="Ticket id, if any."
    )
    vendors = forms.MultipleChoiceField(
        choices=[(v.value, v.label) for v in INTAKE_VENDORS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked means every vendor that applies.",
    )
    adobe_products = forms.CharField(
        label="Adobe products",
        required=False,
        help_text="Comma-separated product codes, e.g. analytics, CJM. Empty means the default.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["received_at"].initial = timezone.localtime().replace(second=0, microsecond=0)

    def clean_regulation(self) -> str:
        code = self.cleaned_data["regulation"].strip()
        try:
            validate_regulation(code)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return code

    def clean_identities(self) -> list[dict[str, str]]:
        return parse_identity_lines(self.cleaned_data["identities"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        email = cleaned.get("subject_email")
        identities = cleaned.get("identities")
        if identities is None or not email:
            return cleaned
        listed = {(i["namespace"].lower(), i["value"].casefold()) for i in identities}
        if cleaned.get("include_email_identity") and ("email", email.casefold()) not in listed:
            identities.insert(0, {"namespace": "email", "value": email, "type": "standard"})
        if not identities:
            self.add_error("identities", "Give at least one identity, or tick the email box.")
        return cleaned

    def create_case(self, *, actor: Actor) -> Case | None:
        """The new case, or None with the service's objections added to the form."""
        data = self.cleaned_data
        products = [p.strip() for p in data["adobe_products"].split(",") if p.strip()]
        try:
            case = services.create_case(
                actor=actor,
                regulation=data["regulation"],
                actions=data["actions"],
                received_at=data["received_at"],
                subject_name=data["subject_name"],
                subject_email=data["subject_email"],
                identities=data["identities"],
                external_ref=data["external_ref"],
                vendors=data["vendors"],
                adobe_products=products,
            )
        except ValidationError as exc:
            add_service_errors(self, exc, {"subject": "subject_email"})
            return None
        messaging.acknowledge_on_intake(case, actor=actor)
        return case


# --- Subject and identities (editable only before any vendor is contacted) ----------------------


EMAIL_RULE_HELP = (
    "The contact email and the email identity are the same fact: when you change the contact "
    "email, the email identity holding the old address (ignoring case and spaces) changes with "
    "it. Untick to keep that identity as it is, e.g. when the subject only wants replies "
    "elsewhere. If the case has no such identity, nothing else changes."
)


class DataSubjectForm(forms.ModelForm):
    email_identity_follows = forms.BooleanField(
        label="Also change the email identity sent to vendors",
        required=False,
        initial=True,
        help_text=EMAIL_RULE_HELP,
    )

    class Meta:
        model = DataSubject
        fields = ["name", "email"]
        widgets = {
            "name": forms.TextInput(attrs={"size": 40}),
            "email": forms.EmailInput(attrs={"size": 40}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.email:
            matching = self._matching_email_identities()
            self.fields["email_identity_follows"].help_text = EMAIL_RULE_HELP + (
                " This case has an email identity with the current contact email."
                if matching
                else " This case has no email identity with the current contact email."
            )

    def _matching_email_identities(self) -> int:
        # identities.all(): the case page prefetches them.
        contact = normalise(self.instance.email)
        return sum(
            1
            for identity in self.instance.identities.all()
            if identity.namespace.lower() == "email" and normalise(identity.value) == contact
        )

    @property
    def changed_data(self) -> list[str]:
        # Only the subject's own fields: unticking the box alone changes nothing to save.
        return [name for name in super().changed_data if name != "email_identity_follows"]

    def apply_email_rule(self) -> dict[str, object]:
        """After the subject is saved, inside `services.edit_subject`: let the email identity
        follow a changed contact email unless the officer unticked the box. Audit details."""
        if "email" not in self.changed_data:
            return {}
        if not self.cleaned_data.get("email_identity_follows"):
            return {"email_identity_followed": False, "email_identity_kept_by_officer": True}
        counts = services.follow_contact_email(
            self.instance, old_email=self.initial.get("email") or "", new_email=self.instance.email
        )
        return {"email_identity_followed": any(counts.values()), **counts}


class IdentityForm(forms.ModelForm):
    class Meta:
        model = Identity
        fields = ["namespace", "type", "value"]
        widgets = {"value": forms.TextInput(attrs={"size": 50})}


class IdentityFormSet(forms.BaseInlineFormSet):
    """Checks the identities together, as the intake does (duplicates, Adobe's limit of 9)."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        if not kept:
            raise ValidationError(
                "A case needs at least one identity: add another before removing the last one."
            )
        try:
            validate_identities(kept)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
