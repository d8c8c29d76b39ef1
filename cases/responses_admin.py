"""The officers' side of the response: the case page's "Response" line, the preview page, the
"leave a file out" form. Writes go through `cases.responses`; the buttons are case steps
(`cases.admin_steps`): Prepare response, Leave a file out of the response, Send response,
Revoke response link, Re-issue response link."""

from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from cases import responses
from cases.audit import Actor, record
from cases.choices import ResponseStatus, TokenPurpose, TokenState
from cases.forms import StepForm
from cases.models import Case, ResponseDownload

# The preview's report is shown in a sandboxed frame: no scripts, no forms, no requests out.
PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'"


class LeaveOutForm(StepForm):
    file = forms.ChoiceField(label="File to leave out")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the subject does not get this file (e.g. it holds another person's "
        "data). Kept on the case for officers; the audit trail records the file's id.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = []
        if self.case is not None:
            package = responses.package_of(self.case)
            left_out = {f"{e['source']}:{e['id']}" for e in (package.exclusions if package else [])}
            choices = [
                (c.key, f"{'Vendor file' if c.source == 'result' else 'Attachment'}: {c.name}")
                for c in responses.candidates(self.case) if c.key not in left_out
            ]
        self.fields["file"].choices = choices


def has_draft(case: Case) -> bool:
    package = responses.package_of(case)
    return package is not None and package.status == ResponseStatus.DRAFT


def preview_url(case: Case) -> str:
    return reverse("admin:cases_case_response", args=[case.pk])


def describe(case: Case) -> SafeString:
    """The case page's "Response" line: the package, the link, each download."""
    package = responses.package_of(case)
    token = package.current_token() if package else None
    downloads = list(ResponseDownload.objects.filter(package=package)) if package else []
    used = sum(1 for d in downloads if token and d.token_id == token.pk)
    return render_to_string("admin/cases/case/_response.html", {
        "case": case,
        "package": package,
        "token": token,
        "token_state": token.state() if token else "",
        "token_state_label": TokenState(token.state()).label.lower() if token else "",
        "downloads": downloads,
        "used": used,
        "left": max(package.max_downloads - used, 0) if package else 0,
        "preview_url": preview_url(case) if package else "",
    })


def preview_view(model_admin, request: HttpRequest, case: Case | None) -> HttpResponse:
    """The officers' review page: summary, manifest, files left out, the report in a frame."""
    if case is None:
        raise Http404("No such case.")
    if not model_admin.has_change_permission(request, case):
        raise PermissionDenied("Your role may not read the response package.")
    package = responses.package_of(case)
    if package is None:
        raise Http404("This case has no response package yet.")
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Response package: {case.reference}",
        "case": case,
        "package": package,
        "response_info": describe(case),
        "has_report": any(r["path"] == "report.html" for r in package.manifest),
        "report_url": reverse("admin:cases_case_response_report", args=[case.pk]),
        "case_url": reverse("admin:cases_case_change", args=[case.pk]),
        "leave_out_url": reverse("admin:cases_case_step_leave_out", args=[case.pk]),
        "send_url": reverse("admin:cases_case_step_send_response", args=[case.pk]),
        "prepare_url": reverse("admin:cases_case_step_prepare_response", args=[case.pk]),
        "media": model_admin.media,
    }
    return TemplateResponse(request, "admin/cases/case/response_preview.html", context)


def report_view(model_admin, request: HttpRequest, case: Case | None) -> HttpResponse:
    """report.html from the package, for the preview's frame (audited: it holds personal data)."""
    if case is None or not model_admin.has_change_permission(request, case):
        raise Http404("No such case.")
    package = responses.package_of(case)
    data = responses.read_member(package, "report.html") if package else None
    if data is None:
        raise Http404("The package has no report (or was purged).")
    record("response.previewed", actor=Actor.for_user(request.user), case=case, obj=package,
           details={"package_id": package.pk, "sha256": package.sha256})
    response = HttpResponse(data, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = PREVIEW_CSP
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Cache-Control"] = "no-store"
    return response


def live_link(case: Case) -> bool:
    package = responses.package_of(case)
    return package is not None and package.status == ResponseStatus.SENT and (
        case.portal_tokens.filter(purpose=TokenPurpose.RESPONSE, revoked_at__isnull=True)
        .filter(expires_at__gt=timezone.now()).exists()
    )
