"""Forms for the officers' admin: case intake and the reasons/choices workflow steps ask for.

They only collect and check input; the writes happen in `cases.services`, whose ValidationErrors
are put back on the matching field so the officer sees them where they typed.
"""

from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from cases import messaging, services
from cases.audit import Actor
from cases.choices import Action, IdentityType, JobStatus, Regulation, RejectionReason, Vendor
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
    """Base of the forms a case step asks for. `case` is set on a case page, None in bulk."""

    def __init__(self, *args: Any, case: Case | None = None, **kwargs: Any) -> None:
        self.case = case
        super().__init__(*args, **kwargs)


class HoldForm(StepForm):
    reason = forms.CharField(
        widget=_REASON_WIDGET,
        help_text="Why the clock stops, e.g. waiting for proof of identity. Kept on the case.",
    )


class ExtendForm(StepForm):
    reason = forms.CharField(
        widget=_REASON_WIDGET,
        help_text="Why more time is needed; most laws require telling the subject this reason.",
    )
    until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        label="New due date",
        help_text="Leave empty for the longest extension the law allows.",
    )


class RejectForm(StepForm):
    code = forms.ChoiceField(label="Reason code", choices=RejectionReason.choices)
    reason = forms.CharField(
        widget=_REASON_WIDGET, help_text="The explanation the subject will be given."
    )


class AssignForm(StepForm):
    assignee = forms.ModelChoiceField(
        queryset=services.officers(),
        required=False,
        empty_label="Nobody (unassign)",
    )


class CloseForm(StepForm):
    note = forms.CharField(
        widget=_REASON_WIDGET,
        required=False,
        help_text="Optional: how and when the response was delivered.",
    )


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manual = VendorJob.objects.filter(status=JobStatus.MANUAL)
        self.fields["job"].queryset = manual.filter(case=self.case) if self.case else manual.none()
        self.fields["job"].label_from_instance = (
            lambda job: f"{job.get_vendor_display()} {job.action}: {job.last_error[:100]}"
        )


class RecordDeleteForm(StepForm):
    confirm = forms.BooleanField(
        label="I understand that a record delete is for data minimisation, not for answering "
        "a data subject request, and that it cannot be undone.",
    )


# --- Intake -----------------------------------------------------------------------------------


def parse_identity_lines(text: str) -> list[dict[str, str]]:
    """Read 'namespace:value[:type]' lines. A trailing ':word' is the type only when it names one,
    so values that contain colons (some custom ids do) survive."""
    identities, errors = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        namespace, sep, rest = line.partition(":")
        if not sep or not rest.strip():
            errors.append(f"Line {number}: write namespace:value, optionally :type at the end.")
            continue
        value, id_type = rest, IdentityType.STANDARD
        head, sep, tail = rest.rpartition(":")
        if sep and tail.strip() in IdentityType.values:
            value, id_type = head, tail.strip()
        identities.append({"namespace": namespace.strip(), "value": value.strip(), "type": id_type})
    if errors:
        raise ValidationError(errors)
    return identities


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
        help_text="One per line as namespace:value[:type], e.g. ecid:4436365767997586810 or "
        "loyaltyId:LOY-0042:custom. Type defaults to standard.",
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
        identities = parse_identity_lines(self.cleaned_data["identities"])
        if identities:
            try:
                validate_identities(identities)
            except ValidationError as exc:
                raise ValidationError(exc.messages) from None
        return identities

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


class DataSubjectForm(forms.ModelForm):
    class Meta:
        model = DataSubject
        fields = ["name", "email"]
        widgets = {
            "name": forms.TextInput(attrs={"size": 40}),
            "email": forms.EmailInput(attrs={"size": 40}),
        }


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
        try:
            validate_identities(kept)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
