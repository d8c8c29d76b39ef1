"""The compliance officers' admin: a queue sorted by legal deadline and one page per case.

Every write goes through `cases.services`. Workflow moves are *case steps* (`cases.admin_steps`):
each is a button on the case page (POST to its own admin URL) and, when it has a bulk admin
action, an action on the case list.
"""

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_post_parameters
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases import (
    admin_search,
    audit_views,
    deadlines,
    notes_admin,
    responses_admin,
    routing,
    security,
    services,
    verification,
)
from cases.admin_base import ReadOnlyInline
from cases.admin_steps import (
    CASE_STEPS,
    CaseStep,
    StepInput,
    plural,
    refusal,
    step_unavailable,
    step_url_name,
)
from cases.api import admin as _api_admin  # noqa: F401  (API clients, webhook deliveries)
from cases.audit import Actor
from cases.choices import (
    CASE_TERMINAL,
    CASE_UNSUBMITTED,
    JOB_FAILED,
    CaseStatus,
    JobStatus,
    Vendor,
)
from cases.forms import (
    CaseIntakeForm,
    DataSubjectForm,
    IdentityForm,
    IdentityFormSet,
    StepForm,
    add_service_errors,
)
from cases.job_reasons import problem_reason, result_text
from cases.messaging_admin import MessageFilter, MessageInline, acknowledgement_text
from cases.models import (
    Attachment,
    AuditEvent,
    Case,
    DataSubject,
    Identity,
    ResultFile,
    TransitionError,
    VendorJob,
)
from cases.pagination import EstimatedCountPaginator
from cases.routing import ID5_JURISDICTIONS
from cases.templatetags.case_admin import (
    acknowledgement_badge,
    deadline_badge,
    job_status_badge,
    regulation_name,
    status_badge,
)

# Set on the request when a service refused the edit, so the admin reports no success.
REFUSED_ATTR = "_privacy_desk_refused"
# The case page shows this many newest events; the audit list has the rest.
TIMELINE_LIMIT = 200
# The workflow layer adds a view of this name (args: case pk, result pk) to serve result files
# through an audited download; until then the results table shows no link.
RESULT_DOWNLOAD_URL = "admin:cases_case_result_download"

admin.site.site_header = "Privacy Desk"
admin.site.site_title = "Privacy Desk"
# The home page's heading depends on who reads it: templates/admin/index.html, home_page_title.
admin.site.index_title = "Home"
# The case list needs the width more than a second copy of the app list.
admin.site.enable_nav_sidebar = False


# --- Case list filters --------------------------------------------------------------------------


class DeadlineFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("week", "Due within 7 days")]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.overdue()
        if self.value() == "week":
            return queryset.due_within(7)
        return queryset


class VendorJobStatusFilter(admin.SimpleListFilter):
    """Cases with at least one job in a status; a subquery, so a case is listed once."""

    title = "vendor job status"
    parameter_name = "job_status"

    def lookups(self, request, model_admin):
        return JobStatus.choices

    def queryset(self, request, queryset):
        if self.value() in JobStatus.values:
            jobs = VendorJob.objects.filter(status=self.value()).values("case_id")
            return queryset.filter(pk__in=jobs)
        return queryset


class AssignedFilter(admin.SimpleListFilter):
    title = "assigned to"
    parameter_name = "assigned"

    def lookups(self, request, model_admin):
        return [("me", "Me (open cases)"), ("none", "Nobody (open cases)")]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.exclude(status__in=CASE_TERMINAL).filter(assignee=request.user)
        if self.value() == "none":
            return queryset.exclude(status__in=CASE_TERMINAL).filter(assignee__isnull=True)
        return queryset


# --- Inlines on the case page ---------------------------------------------------------------------


class SubjectInline(admin.StackedInline):
    """The subject, with a read-only table of identities (they hang off the subject, not the
    case, so they are edited on the subject's own page)."""

    model = DataSubject
    form = DataSubjectForm
    template = "admin/cases/case/subject_inline.html"
    fields = ["name", "email", "email_identity_follows", "identity_table"]
    readonly_fields = ["identity_table"]
    can_delete = False
    extra = 0
    max_num = 1

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("identities")

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # created with the case by services.create_case

    def has_change_permission(self, request, obj=None) -> bool:
        editable = obj is not None and obj.status in CASE_UNSUBMITTED
        return editable and super().has_change_permission(request, obj)

    def get_fields(self, request, obj=None):
        # A role that may not see contact data (cases.security) sees that there is a subject and
        # which identifiers, not who: no name, email or identity value.
        if security.may_see_contact_data(request.user):
            return self.fields
        return ["contact_withheld", "identity_table_withheld"]

    def get_readonly_fields(self, request, obj=None):
        if security.may_see_contact_data(request.user):
            return self.readonly_fields
        return self.get_fields(request, obj)

    @admin.display(description="Name and email")
    def contact_withheld(self, subject: DataSubject) -> str:
        return "Withheld: your role does not see the subject's contact data."

    @admin.display(description="Identities")
    def identity_table(self, subject: DataSubject) -> SafeString:
        return self._identities(subject, values=True)

    @admin.display(description="Identities")
    def identity_table_withheld(self, subject: DataSubject) -> SafeString:
        return self._identities(subject, values=False)

    def _identities(self, subject: DataSubject, *, values: bool) -> SafeString:
        url = reverse("admin:cases_datasubject_change", args=[subject.pk])
        return render_to_string(
            "admin/cases/case/_identities.html",
            {
                "identities": subject.identities.all(),
                "subject_url": url if values else "",
                "editable": subject.case.status in CASE_UNSUBMITTED,
                "values": values,
            },
        )


def job_url(job: VendorJob) -> str:
    return reverse("admin:cases_vendorjob_change", args=[job.pk])


def job_reason(job: VendorJob) -> str:
    """The stored reason, or (for rows from before every problem carried one) the vendor's words."""
    if job.last_error:
        return job.last_error
    return problem_reason(job) if job.status in JOB_FAILED else "—"


class VendorJobInline(ReadOnlyInline):
    model = VendorJob
    verbose_name_plural = "vendor jobs"
    fields = [
        "job_link",
        "status_pill",
        "vendor_ids",
        "vendor_status",
        "result",
        "attempts",
        "reason",
        "note",
        "next_attempt_at",
        "submitted_at",
        "completed_at",
        "last_synced_at",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("case")  # each row names its case

    @admin.display(description="Job")
    def job_link(self, job: VendorJob) -> SafeString:
        return format_html(
            '<a href="{}">{} {}</a>', job_url(job), job.get_vendor_display(), job.action
        )

    @admin.display(description="Status")
    def status_pill(self, job: VendorJob) -> SafeString:
        return job_status_badge(job)

    @admin.display(description="Vendor ids")
    def vendor_ids(self, job: VendorJob) -> str:
        return " / ".join(filter(None, [job.request_id, job.vendor_job_id])) or "—"

    @admin.display(description="Result")
    def result(self, job: VendorJob) -> str:
        return result_text(job)

    @admin.display(description="Reason / next step")
    def reason(self, job: VendorJob) -> str:
        return job_reason(job)


def result_download_url(result: ResultFile) -> str | None:
    """The audited download view for a result file, once the workflow layer provides it."""
    try:
        return reverse(RESULT_DOWNLOAD_URL, args=[result.case_id, result.pk])
    except NoReverseMatch:
        return None


def may_download_results(request: HttpRequest, case: Case) -> bool:
    """What the download view checks: result files go to whoever may work on the case (the
    read-only Auditor role may not)."""
    return admin.site.get_model_admin(Case).has_change_permission(request, case)


class ResultFileInline(ReadOnlyInline):
    model = ResultFile
    verbose_name_plural = "results"
    fields = ["name", "size", "sha256", "downloaded_at", "purge_after", "download"]

    def get_fields(self, request, obj=None):
        # No link a role cannot follow: without the permission the column is left out.
        if obj is not None and may_download_results(request, obj):
            return self.fields
        return [name for name in self.fields if name != "download"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description="Download")
    def download(self, result: ResultFile) -> SafeString | str:
        url = result_download_url(result)
        return format_html('<a href="{}">Download</a>', url) if url else "—"


# --- Cases --------------------------------------------------------------------------------------


def _looks_like_email(term: str) -> bool:
    local, at, domain = term.partition("@")
    return bool(at and local and "." in domain and not any(c.isspace() for c in term))


class ServiceWritesAdmin(admin.ModelAdmin):
    """For admins whose saves go through services: a refusal is shown as an error, and Django's
    "changed successfully" message and change-log entry are left out for that request."""

    def refuse(self, request: HttpRequest, message: str) -> None:
        setattr(request, REFUSED_ATTR, True)
        self.message_user(request, message, messages.ERROR)

    def edit_subject(self, request: HttpRequest, case: Case, save) -> None:
        if getattr(request, REFUSED_ATTR, False):
            return  # the form's save was refused: its inline formsets are not saved either
        try:
            services.edit_subject(case, save, actor=Actor.for_user(request.user))
        except TransitionError as exc:
            self.refuse(request, str(exc))

    def construct_change_message(self, request, form, formsets, add=False):
        if getattr(request, REFUSED_ATTR, False):
            return []  # a refused save wrote nothing (and its formsets never saved)
        return super().construct_change_message(request, form, formsets, add)

    def log_change(self, request, obj, message):
        if not getattr(request, REFUSED_ATTR, False):
            return super().log_change(request, obj, message)
        return None

    def response_change(self, request, obj) -> HttpResponse:
        if getattr(request, REFUSED_ATTR, False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


@admin.register(Case)
class CaseAdmin(ServiceWritesAdmin):
    list_display = [
        "reference",
        "external_ref",
        "regulation_code",
        "actions",
        "status_pill",
        "received",
        "due",
        "acknowledgement",
        "assignee",
    ]
    list_filter = [
        "status",
        "regulation",
        DeadlineFilter,
        VendorJobStatusFilter,
        AssignedFilter,
        admin_search.FoundFilter,
        MessageFilter,
    ]
    # Encrypted subject fields cannot be searched in SQL: get_search_results adds the exact
    # email through the blind index instead. The search box POSTs (cases.admin_search), so an
    # email never enters a URL.
    search_fields = ["reference", "external_ref"]
    search_help_text = (
        "Reference, external reference, or the subject's exact email address (an email search "
        "keeps the address out of the page address, browser history and server logs)."
    )
    ordering = ["due_date", "id"]  # read off case_due_order_idx
    list_select_related = ["assignee"]
    list_per_page = 50
    # One COUNT a page: not the filtered count and the whole table's too (Django's default), and
    # on PostgreSQL an estimate for a huge unfiltered list (ADMIN_COUNT_ESTIMATE_ABOVE).
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    inlines = [
        SubjectInline, VendorJobInline, ResultFileInline, MessageInline,
        notes_admin.NoteInline, notes_admin.AttachmentInline,
    ]
    actions = [
        "verify", "submit", "sync", "retry", "hold", "resume", "extend", "reject",
        "assign_to_me", "assign", "close", "export_audit_csv", "export_audit_jsonl",
    ]
    fieldsets = [
        (None, {"fields": ["reference", "external_ref", "api_client", "regulation", "actions"]}),
        ("Deadline", {"fields": ["received_at", "deadline", "original_due_date", "extension"]}),
        (
            "Status",
            {
                "fields": [
                    "status_pill",
                    "status_reason",
                    "rejection_code",
                    "hold_info",
                    "status_changed_at",
                    "verified_at",
                    "verification_info",
                    "acknowledgement_info",
                    "closed_at",
                    "assignee",
                ]
            },
        ),
        ("Response", {"fields": ["response_info"]}),
        (
            "Routing",
            {
                "fields": [
                    "routed_vendors",
                    "routed_products",
                    "routed_jurisdiction",
                    "routing_explanation",
                ]
            },
        ),
    ]
    # Only the assignee is edited in the form (through services.assign); every other change is
    # a step with its own service.
    readonly_fields = [
        name for _, options in fieldsets for name in options["fields"] if name != "assignee"
    ]

    class Media:
        css = {"all": ["cases/admin.css"]}

    # List columns

    def action_checkbox(self, case: Case) -> SafeString:
        """Django's row checkbox, without rendering a widget template per row (which took a
        quarter of the list's time)."""
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            ACTION_CHECKBOX_NAME, case.pk,
            format_html(gettext("Select this object for an action - {}"), str(case)),
        )

    @admin.display(description="Regulation", ordering="regulation")
    def regulation_code(self, case: Case) -> str:
        return regulation_name(case.regulation)

    @admin.display(description="Received", ordering="received_at")
    def received(self, case: Case) -> SafeString:
        return format_html(
            '<span class="pd-due">{}</span>', timezone.localdate(case.received_at).isoformat()
        )

    @admin.display(description="Status", ordering="status")
    def status_pill(self, case: Case) -> SafeString:
        return status_badge(case)

    @admin.display(description="Due", ordering="due_date")
    def due(self, case: Case) -> SafeString:
        return format_html(
            '<span class="pd-due">{}</span> {}', case.due_date.isoformat(), deadline_badge(case)
        )

    @admin.display(description="Ack")
    def acknowledgement(self, case: Case) -> SafeString | str:
        return acknowledgement_badge(case)

    # Case page read-only fields

    @admin.display(description="Verification")
    def verification_info(self, case: Case) -> str:
        return verification.describe(case)

    @admin.display(description="Response")
    def response_info(self, case: Case) -> SafeString:
        return responses_admin.describe(case)

    @admin.display(description="Acknowledgement")
    def acknowledgement_info(self, case: Case) -> SafeString | str:
        return acknowledgement_text(case)

    @admin.display(description="Due date")
    def deadline(self, case: Case) -> SafeString:
        return render_to_string(
            "admin/cases/case/_deadline.html",
            {
                "case": case,
                "rule": case.rule,
                "rules_url": reverse("admin:cases_case_deadline_rules"),
            },
        )

    @admin.display(description="Extension")
    def extension(self, case: Case) -> str:
        if not case.extended_at:
            return "Not extended."
        when = timezone.localtime(case.extended_at).date()
        return f"Extended on {when} to {case.due_date}: {case.extension_reason}"

    @admin.display(description="Hold")
    def hold_info(self, case: Case) -> str:
        if case.status != CaseStatus.ON_HOLD:
            return "—"
        before = CaseStatus(case.status_before_hold or CaseStatus.NEW).label.lower()
        return (
            f"On hold since {case.hold_started_on} with {plural(case.hold_days_remaining, 'day')}"
            f" left; resuming returns the case to {before}."
        )

    @admin.display(description="Why each job")
    def routing_explanation(self, case: Case) -> SafeString:
        """Routing's own decisions (the ones submit_case follows), beside the jobs they made."""
        jobs = {(job.vendor, job.action): job for job in case.jobs.all()}
        rows = []
        for decision in routing.decide_case(case):
            job = jobs.get((decision.vendor, decision.action))
            rows.append({
                "decision": decision,
                "job": job,
                "url": job_url(job) if job else "",
                "outcome": _routing_outcome(case, decision, job),
            })
        return render_to_string("admin/cases/case/_routing.html", {"rows": rows})

    @admin.display(description="Vendors")
    def routed_vendors(self, case: Case) -> str:
        if not case.vendors:
            return "Every vendor that applies"
        return ", ".join(Vendor(v).label if v in Vendor.values else v for v in case.vendors)

    @admin.display(description="Adobe products")
    def routed_products(self, case: Case) -> str:
        if case.adobe_products:
            return ", ".join(case.adobe_products)
        default = ", ".join(settings.ADOBE_DEFAULT_PRODUCTS)
        return f"The default ({default})" if default else "None (ADOBE_DEFAULT_PRODUCTS is empty)"

    @admin.display(description="ID5 jurisdiction")
    def routed_jurisdiction(self, case: Case) -> str:
        if case.vendors and Vendor.ID5 not in case.vendors:
            return "Not used: the case is not routed to ID5"
        if case.id5_jurisdiction:
            return f"{case.id5_jurisdiction} (chosen for this case)"
        derived = ID5_JURISDICTIONS.get(case.regulation)
        if derived:
            return f"From the regulation ({derived})"
        return f"None: ID5 deletes under GDPR or CCPA only, not {regulation_name(case.regulation)}"

    # Queries

    def get_object(self, request, object_id, from_field=None):
        queryset = self.get_queryset(request).select_related("assignee", "api_client")
        try:
            return queryset.get(pk=Case._meta.pk.to_python(object_id))
        except (Case.DoesNotExist, ValidationError, ValueError):
            return None

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if _looks_like_email(term):
            by_email = Case.objects.with_subject_email(term).values("pk")
            results = results | queryset.filter(pk__in=by_email)
        return results, may_have_duplicates

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assignee":
            kwargs["queryset"] = services.officers()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # Permissions and writes

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.is_open:
            return [*self.readonly_fields, "assignee"]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the audit trail and the law need the record; nothing deletes cases here

    def save_model(self, request, obj, form, change) -> None:
        # Never obj.save(): the assignee is the one editable field and goes through its service.
        if "assignee" not in form.changed_data:
            return
        try:
            services.assign(
                obj, actor=Actor.for_user(request.user), assignee=form.cleaned_data["assignee"]
            )
        except (TransitionError, ValidationError) as exc:
            self.refuse(request, refusal(obj, exc))

    def save_formset(self, request, form, formset, change) -> None:
        changed = sorted({name for f in formset.forms for name in f.changed_data})
        if formset.model is Attachment and not getattr(request, REFUSED_ATTR, False):
            notes_admin.save_response_flags(request, formset)
            return
        if formset.model is not DataSubject or not changed:
            formset.save()
            return

        def save() -> dict[str, object]:
            formset.save()
            details: dict[str, object] = {"fields": changed}
            for subject_form in formset.forms:
                details |= subject_form.apply_email_rule()
            return details

        self.edit_subject(request, form.instance, save)

    # Views

    def get_urls(self):
        wrap = self.admin_site.admin_view
        urls = [
            path(
                "deadline-rules/",
                wrap(self.deadline_rules_view),
                name="cases_case_deadline_rules",
            ),
            path("search/", wrap(self.search_view), name="cases_case_search"),
        ]
        for step in CASE_STEPS.values():
            urls.append(
                path(
                    f"<path:object_id>/steps/{step.name}/",
                    wrap(self.step_view),
                    {"step_name": step.name},
                    name=step_url_name(step.name),
                )
            )
        urls.append(
            path(
                "<path:object_id>/results/<int:result_id>/download/",
                wrap(self.result_download_view),
                name="cases_case_result_download",
            )
        )
        urls.append(
            path(
                "<path:object_id>/attachments/<int:attachment_id>/download/",
                wrap(self.attachment_download_view),
                name="cases_case_attachment_download",
            )
        )
        urls += [
            path("<path:object_id>/response/", wrap(self.response_view),
                 name="cases_case_response"),
            path("<path:object_id>/response/report/", wrap(self.response_report_view),
                 name="cases_case_response_report"),
        ]
        return [*urls, *audit_views.case_admin_urls(self.admin_site), *super().get_urls()]

    def response_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self.get_object(request, unquote(object_id))
        return responses_admin.preview_view(self, request, case)

    def response_report_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        case = self.get_object(request, unquote(object_id))
        return responses_admin.report_view(self, request, case)

    @method_decorator(sensitive_post_parameters(admin_search.SEARCH_PARAM))  # error reports
    def search_view(self, request: HttpRequest) -> HttpResponse:
        return admin_search.search_view(self, request)

    def changelist_view(self, request, extra_context=None):
        redirect = admin_search.bookmark_redirect(self, request)
        if redirect is not None:
            return redirect
        extra_context = {
            "title": "Cases",  # not Django's "Select case to change"
            "found_note": admin_search.found_note(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def result_download_view(
        self, request: HttpRequest, object_id: str, result_id: int
    ) -> FileResponse:
        """Serve a result file (personal data) to an officer; every download is audited."""
        case = self.get_object(request, unquote(object_id))
        if case is None:
            raise Http404("No such case.")
        if not may_download_results(request, case):
            raise PermissionDenied("Your role may not download result files.")
        result = ResultFile.objects.filter(case=case, pk=result_id).first()
        if result is None or not result.file:
            raise Http404("No such result file.")
        try:
            handle = result.file.open("rb")
        except FileNotFoundError:
            raise Http404("The result file is missing from storage (purged?).") from None
        services.record_result_download(result, actor=Actor.for_user(request.user))
        return FileResponse(handle, as_attachment=True, filename=result.name)

    def attachment_download_view(
        self, request: HttpRequest, object_id: str, attachment_id: int
    ) -> FileResponse:
        case = self.get_object(request, unquote(object_id))
        return notes_admin.download_view(request, case, attachment_id)

    def add_view(self, request, form_url="", extra_context=None) -> HttpResponse:
        """Intake through services.create_case, never the raw model form."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CaseIntakeForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            case = form.create_case(actor=Actor.for_user(request.user))
            if case is not None:
                self._report_created(request, case)
                return HttpResponseRedirect(reverse("admin:cases_case_change", args=[case.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Open a case",
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/cases/case/intake_form.html", context)

    def _report_created(self, request: HttpRequest, case: Case) -> None:
        self.message_user(request, f"Case {case.reference} opened, due {case.due_date}.")
        duplicates = list(services.possible_duplicates(case).values_list("reference", flat=True))
        if duplicates:
            self.message_user(
                request,
                f"Other open cases for the same email: {', '.join(duplicates)}.",
                messages.WARNING,
            )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            events = list(obj.audit_events.order_by("-seq")[: TIMELINE_LIMIT + 1])
            notes_admin.describe_timeline(events)
            context.update(
                # Not Django's "Change case" over the reference: the case is the page's title.
                title=f"Case {obj.reference}",
                subtitle=None,
                # New cases are opened from the list (intake), never from another case's page.
                show_save_and_add_another=False,
                case_buttons=self._buttons(request, obj),
                timeline=events[:TIMELINE_LIMIT],
                timeline_truncated=len(events) > TIMELINE_LIMIT,
                audit_list_url=reverse("admin:cases_auditevent_changelist") + f"?q={obj.reference}",
                case_file_url=(
                    reverse("admin:cases_case_case_file", args=[obj.pk])
                    if request.user.has_perms(audit_views.CASE_FILE_PERMS)
                    else ""
                ),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _buttons(self, request: HttpRequest, case: Case) -> list[dict[str, Any]]:
        if not self.has_change_permission(request, case):
            return []
        return [
            {
                "step": step,
                "url": reverse(f"admin:{step_url_name(step.name)}", args=[case.pk]),
                # Steps with a form link to their page; the others POST straight from the button.
                "asks_input": step.form is not None,
            }
            for step in CASE_STEPS.values()
            if step.shown(case, request.user)
        ]

    def deadline_rules_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Deadline rules",
            "rules": deadlines.RULES,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/cases/deadline_rules.html", context)

    # Steps: the case page buttons (one case) and the bulk actions (many)

    def step_view(self, request: HttpRequest, object_id: str, step_name: str) -> HttpResponse:
        step = CASE_STEPS.get(step_name)
        case = self.get_object(request, unquote(object_id))
        if step is None or case is None:
            raise Http404("No such case or step.")
        if not self.has_change_permission(request, case):
            raise PermissionDenied
        case_url = reverse("admin:cases_case_change", args=[case.pk])
        posts_straight = request.method == "POST" and step.form is None
        if not posts_straight and not step.shown(case, request.user):
            # No button offers this step now (an old tab, a typed URL): say why rather than show
            # its page. A button without a form posts straight to its service, which says why.
            self.message_user(request, step_unavailable(step, case), messages.ERROR)
            return HttpResponseRedirect(case_url)
        bound = request.POST if request.method == "POST" else None
        files = request.FILES if request.method == "POST" else None  # a note's attachment
        form = step.form(bound, files, case=case) if step.form else None
        if request.method == "POST" and (form is None or form.is_valid()):
            given = StepInput(Actor.for_user(request.user), request.user, _data(form))
            try:
                step.run(case, given)
            except TransitionError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return HttpResponseRedirect(case_url)
            except ValidationError as exc:
                if form is None:
                    self.message_user(request, refusal(case, exc), messages.ERROR)
                    return HttpResponseRedirect(case_url)
                add_service_errors(form, exc)
            else:
                self.message_user(request, f"Case {case.reference} {step.done_text(given.data)}.")
                return HttpResponseRedirect(case_url)
        return self._step_page(request, step, form, [case], cancel_url=case_url)

    def run_step(self, request: HttpRequest, queryset: QuerySet, name: str):
        """Apply a step to the selected cases; asks for its form first when it has one."""
        step = CASE_STEPS[name]
        cases = list(queryset)
        form = None
        if step.form:
            form = step.form(request.POST if "apply" in request.POST else None, cases=cases)
            if not form.is_valid():
                return self._step_page(
                    request, step, form, cases, cancel_url=request.get_full_path()
                )
        elif step.confirm_bulk and "apply" not in request.POST and any(
            map(step.confirm_bulk, cases)
        ):
            return self._step_page(request, step, None, cases, cancel_url=request.get_full_path())
        self._apply_to_many(request, cases, step, _data(form))
        return None

    def _apply_to_many(
        self, request: HttpRequest, cases: Iterable[Case], step: CaseStep, data: Mapping
    ) -> None:
        # One refusal must not stop the batch: each case is its own transaction in the service.
        given = StepInput(Actor.for_user(request.user), request.user, data)
        done = refused = 0
        for case in cases:
            try:
                step.run(case, given)
                done += 1
            except (TransitionError, ValidationError) as exc:
                refused += 1
                self.message_user(request, refusal(case, exc), messages.ERROR)
        if done:
            self.message_user(request, f"{plural(done)} {step.done_text(data)}.", messages.SUCCESS)
        if refused:
            self.message_user(request, f"{plural(refused)} left unchanged.", messages.WARNING)

    def _step_page(
        self,
        request: HttpRequest,
        step: CaseStep,
        form: StepForm | None,
        cases: list[Case],
        *,
        cancel_url: str,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": step.label if len(cases) != 1 else f"{step.label}: {cases[0].reference}",
            "step": step,
            "form": form,
            "rows": [(case, step.explain(case) if step.explain else "") for case in cases],
            "explained": step.explain is not None,
            # A bulk page posts back to the changelist as the same admin action.
            "bulk": "action" in request.POST,
            "cancel_url": cancel_url,
            "media": self.media + form.media if form else self.media,
        }
        return TemplateResponse(request, "admin/cases/case/step_form.html", context)

    # Bulk actions: each names its step (see the module docstring)

    @admin.action(description=CASE_STEPS["verify"].label, permissions=["change"])
    def verify(self, request, queryset):
        return self.run_step(request, queryset, "verify")

    @admin.action(description=CASE_STEPS["hold"].label, permissions=["change"])
    def hold(self, request, queryset):
        return self.run_step(request, queryset, "hold")

    @admin.action(description=CASE_STEPS["resume"].label, permissions=["change"])
    def resume(self, request, queryset):
        return self.run_step(request, queryset, "resume")

    @admin.action(description=CASE_STEPS["extend"].label, permissions=["change"])
    def extend(self, request, queryset):
        return self.run_step(request, queryset, "extend")

    @admin.action(description=CASE_STEPS["reject"].label, permissions=["change"])
    def reject(self, request, queryset):
        return self.run_step(request, queryset, "reject")

    @admin.action(description=CASE_STEPS["assign_to_me"].label, permissions=["change"])
    def assign_to_me(self, request, queryset):
        return self.run_step(request, queryset, "assign_to_me")

    @admin.action(description=CASE_STEPS["assign"].label, permissions=["change"])
    def assign(self, request, queryset):
        return self.run_step(request, queryset, "assign")

    @admin.action(description=CASE_STEPS["close"].label, permissions=["change"])
    def close(self, request, queryset):
        return self.run_step(request, queryset, "close")

    @admin.action(description=CASE_STEPS["submit"].label, permissions=["change"])
    def submit(self, request, queryset):
        return self.run_step(request, queryset, "submit")

    @admin.action(description=CASE_STEPS["sync"].label, permissions=["change"])
    def sync(self, request, queryset):
        return self.run_step(request, queryset, "sync")

    @admin.action(description=CASE_STEPS["retry"].label, permissions=["change"])
    def retry(self, request, queryset):
        return self.run_step(request, queryset, "retry")

    @admin.action(description="Export audit trail (CSV)", permissions=["export_audit"])
    def export_audit_csv(self, request, queryset):
        return audit_views.export_cases_response(request, queryset, "csv")

    @admin.action(description="Export audit trail (JSON Lines)", permissions=["export_audit"])
    def export_audit_jsonl(self, request, queryset):
        return audit_views.export_cases_response(request, queryset, "jsonl")

    def has_export_audit_permission(self, request) -> bool:
        return request.user.has_perms(audit_views.EXPORT_PERMS)


def _data(form: StepForm | None) -> Mapping[str, Any]:
    return form.cleaned_data if form is not None else {}


def _routing_outcome(case: Case, decision: routing.Decision, job: VendorJob | None) -> str:
    if job is not None:
        return f"Job: {job.get_status_display().lower()}"
    if decision.job is None:
        return "No job"
    status = JobStatus(decision.job.status).label.lower()
    if case.status in CASE_UNSUBMITTED:
        return f"Created as {status} on submit"
    return f"No job yet: created as {status} when the case is next submitted"


# --- Subject and identities -----------------------------------------------------------------------


class IdentityInline(admin.TabularInline):
    model = Identity
    form = IdentityForm
    formset = IdentityFormSet
    extra = 1

    def _editable(self, obj: DataSubject | None) -> bool:
        return obj is not None and obj.case.status in CASE_UNSUBMITTED

    def has_add_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_delete_permission(request, obj)


def _save_identities(formset) -> dict[str, object]:
    """Save an identities formset; its audit details are counts and namespaces, never values."""
    formset.save()
    touched = [*formset.new_objects, *(o for o, _ in formset.changed_objects)]
    touched += formset.deleted_objects
    return {
        "identities_added": len(formset.new_objects),
        "identities_changed": len(formset.changed_objects),
        "identities_removed": len(formset.deleted_objects),
        "namespaces": sorted({identity.namespace for identity in touched}),
    }


def _merge_email_rule(details: dict[str, object], rule: dict[str, object]) -> dict[str, object]:
    """Add what the email rule did to an edit's details, summing the identity counts."""
    for key, value in rule.items():
        if key.startswith("identities_"):
            details[key] = details.get(key, 0) + value
        else:
            details[key] = value
    if rule.get("email_identity_followed"):
        details["namespaces"] = sorted({*details.get("namespaces", []), "email"})
    return details


@admin.register(DataSubject)
class DataSubjectAdmin(ServiceWritesAdmin):
    """Reached from the case page only; edits allowed while the case is new or verified."""

    form = DataSubjectForm
    fields = ["case_link", "name", "email", "email_identity_follows"]
    readonly_fields = ["case_link"]
    inlines = [IdentityInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("case")

    def has_module_permission(self, request) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # The page is the subject's contact data and identity values, nothing else.
        return security.may_see_contact_data(request.user) and super().has_view_permission(
            request, obj
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        editable = obj is None or obj.case.status in CASE_UNSUBMITTED
        return editable and super().has_change_permission(request, obj)

    @admin.display(description="Case")
    def case_link(self, subject: DataSubject) -> SafeString:
        url = reverse("admin:cases_case_change", args=[subject.case_id])
        return format_html('<a href="{}">{}</a>', url, subject.case.reference)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            # "Subject of DSAR-...", not Django's "Change data subject" above it.
            context.update(title=str(obj), subtitle=None)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change) -> None:
        pass  # saved with its identities in one locked edit: see save_related

    def save_related(self, request, form, formsets, change) -> None:
        """The subject and its identities in one `edit_subject`, one audit event. The email
        rule runs last, so an identity row the officer edited or removed here is left as is."""
        changed_sets = [formset for formset in formsets if formset.has_changed()]
        if not form.changed_data and not changed_sets:
            for formset in formsets:
                formset.save()  # writes nothing; sets what the admin's change message reads
            return

        def save() -> dict[str, object]:
            details: dict[str, object] = {}
            if form.changed_data:
                form.instance.save()
                details["fields"] = sorted(form.changed_data)
            for formset in changed_sets:
                details |= _save_identities(formset)
            for formset in formsets:
                if formset not in changed_sets:
                    formset.save()
            return _merge_email_rule(details, form.apply_email_rule())

        self.edit_subject(request, form.instance.case, save)

    def response_change(self, request, obj) -> HttpResponse:
        if "_continue" in request.POST or getattr(request, REFUSED_ATTR, False):
            return super().response_change(request, obj)
        self.message_user(request, f"Subject of {obj.case.reference} saved.")
        return HttpResponseRedirect(reverse("admin:cases_case_change", args=[obj.case_id]))


# --- Read-only records ---------------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by whoever holds the view permission; written only by services and workers."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _case_link(case_id: int | None, reference: str) -> SafeString | str:
    if not case_id:
        return reference or "—"
    url = reverse("admin:cases_case_change", args=[case_id])
    return format_html('<a href="{}">{}</a>', url, reference)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "seq",
        "created_at",
        "actor_type",
        "actor_label",
        "action",
        "case_link",
        "object_type",
        "object_id",
    ]
    list_filter = ["action", "actor_type"]
    search_fields = ["case_reference"]

    def get_urls(self):
        return [*audit_views.audit_event_admin_urls(self.admin_site), *super().get_urls()]

    search_help_text = "Case reference."
    ordering = ["-seq"]
    fields = [
        "seq",
        "created_at",
        "actor_type",
        "actor_id",
        "actor_label",
        "action",
        "case_link",
        "object_type",
        "object_id",
        "details_json",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields

    @admin.display(description="Case", ordering="case_reference")
    def case_link(self, event: AuditEvent) -> SafeString | str:
        # The copied reference, not the FK: the event stays readable whatever became of the case.
        return _case_link(event.case_id, event.case_reference)

    @admin.display(description="Details")
    def details_json(self, event: AuditEvent) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(event.details, indent=2, sort_keys=True))




@admin.register(VendorJob)
class VendorJobAdmin(ReadOnlyAdmin):
    # The job's own label opens its page; the case has its own column (a link inside the row's
    # change link would nest anchors).
    list_display = [
        "label",
        "case_link",
        "vendor",
        "action",
        "status_pill",
        "vendor_status",
        "attempts",
        "next_attempt_at",
        "last_synced_at",
        "updated_at",
    ]
    list_display_links = ["label"]
    list_filter = ["vendor", "action", "status", "result_status"]
    search_fields = ["case__reference", "vendor_job_id", "request_id"]
    search_help_text = "Case reference or a vendor id."
    list_select_related = ["case"]
    fields = [
        "case_link", "vendor", "action", "status_pill", "reason", "note", "attachment_links",
        "vendor_status",
        "result_codes", "product_statuses", "products", "jurisdiction", "request_id",
        "vendor_job_id", "result", "attempts", "next_attempt_at", "sending_started_at",
        "submitted_at", "completed_at", "last_synced_at", "created_at", "updated_at",
    ]
    readonly_fields = fields

    class Media:
        css = {"all": ["cases/admin.css"]}

    def get_object(self, request, object_id, from_field=None):
        queryset = self.get_queryset(request).select_related("case")
        try:
            return queryset.get(pk=VendorJob._meta.pk.to_python(object_id))
        except (VendorJob.DoesNotExist, ValidationError, ValueError):
            return None

    @admin.display(description="Job", ordering="case__reference")
    def label(self, job: VendorJob) -> str:
        return str(job)

    @admin.display(description="Case", ordering="case__reference")
    def case_link(self, job: VendorJob) -> SafeString | str:
        return _case_link(job.case_id, job.case.reference)

    @admin.display(description="Reason / next step")
    def reason(self, job: VendorJob) -> str:
        return job_reason(job)

    @admin.display(description="Attachments")
    def attachment_links(self, job: VendorJob) -> SafeString | str:
        return notes_admin.job_attachments(job, links=True)

    @admin.display(description="Attachments")
    def attachment_names(self, job: VendorJob) -> str:
        return notes_admin.job_attachments(job, links=False)

    def get_fields(self, request, obj=None):
        # No link a role cannot follow: the names only, for who may not download.
        if obj is not None and notes_admin.may_download(request, obj.case):
            return self.fields
        return [("attachment_names" if f == "attachment_links" else f) for f in self.fields]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description="Result")
    def result(self, job: VendorJob) -> str:
        return result_text(job)

    @admin.display(description="Status", ordering="status")
    def status_pill(self, job: VendorJob) -> SafeString:
        return job_status_badge(job)


@admin.register(ResultFile)
class ResultFileAdmin(ReadOnlyAdmin):
    list_display = ["name", "case_link", "job", "size", "sha256", "downloaded_at", "purge_after"]
    list_filter = ["job__vendor", "downloaded_at", "purge_after"]
    search_fields = ["case__reference", "sha256"]
    list_select_related = ["case", "job__case"]
    # `file` is left out on purpose: its storage URL is never served (downloads are audited).
    fields = [
        "case_link",
        "job",
        "name",
        "size",
        "sha256",
        "entries",
        "downloaded_at",
        "purge_after",
    ]
    readonly_fields = fields

    @admin.display(description="Case", ordering="case__reference")
    def case_link(self, result: ResultFile) -> SafeString | str:
        return _case_link(result.case_id, result.case.reference)


# Staff devices are managed on the audited 2FA pages (cases/two_factor_views.py), not here: the
# default device pages would change them unaudited.
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)
