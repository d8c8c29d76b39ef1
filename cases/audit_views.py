"""Admin pages and downloads for auditors: case file, audit trail export, metrics report.

Every view checks its own permissions (staff, plus the model permissions it needs) so it stays
safe however it is mounted; the case admin mounts them through `case_admin_urls` and
`audit_event_admin_urls`, wrapped in `admin_site.admin_view` (login redirect, no caching).
"""

import datetime as dt
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.sites import AdminSite
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date

from cases import metrics, security
from cases.audit import Actor, record
from cases.casefile import build_case_file
from cases.choices import ActorType, RejectionReason
from cases.exports import FORMATS, Export, ExportFilter, start_export
from cases.models import Case

CASE_FILE_PERMS = ("cases.view_case", "cases.export_audit")
EXPORT_PERMS = ("cases.view_auditevent", "cases.export_audit")
METRICS_PERMS = ("cases.view_case",)
METRICS_EXPORTED_ACTION = "metrics.exported"


def staff_view(*perms: str) -> Callable:
    """Anonymous users go to the admin login; staff without `perms` get 403."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            if not (user.is_active and user.is_staff and user.has_perms(perms)):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


# --------------------------------------------------------------------------- case file


@staff_view(*CASE_FILE_PERMS)
def case_file_view(request: HttpRequest, object_id: str) -> HttpResponse:
    """The case file ZIP of one case (audited as `casefile.exported`)."""
    if not object_id.isdigit():
        raise Http404("No such case.")
    case = get_object_or_404(Case, pk=object_id)
    built = build_case_file(
        case, actor=Actor.for_user(request.user),
        contact_data=security.may_see_contact_data(request.user),
    )
    response = FileResponse(
        built.file, as_attachment=True, filename=built.filename, content_type="application/zip"
    )
    response["X-Case-File-SHA256"] = built.sha256
    return response


# --------------------------------------------------------------------------- audit exports


class FilterError(ValueError):
    """A query parameter of an export that cannot be used; the message says why."""


def _date_param(request: HttpRequest, name: str) -> dt.date | None:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return None
    try:
        value = parse_date(raw)
    except ValueError:
        value = None
    if value is None:
        raise FilterError(f"'{name}' must be a date as YYYY-MM-DD, not '{raw}'.")
    return value


def _cases_param(request: HttpRequest) -> QuerySet[Case] | None:
    references = {r.strip() for r in request.GET.getlist("case") if r.strip()}
    ids = set(request.GET.getlist("case_id"))
    if not references and not ids:
        return None
    if not all(pk.isdigit() for pk in ids):
        raise FilterError("'case_id' must be a case's numeric id.")
    by_reference = dict(
        Case.objects.filter(reference__in=references).values_list("reference", "pk")
    )
    by_id = set(Case.objects.filter(pk__in=ids).values_list("pk", flat=True))
    unknown = sorted(references - by_reference.keys()) + sorted(
        f"id {pk}" for pk in ids if int(pk) not in by_id
    )
    if unknown:
        raise FilterError(f"No case {', '.join(unknown)}.")
    return Case.objects.filter(pk__in=by_id | set(by_reference.values()))


def filters_from_query(request: HttpRequest) -> ExportFilter:
    """The export's filters from a query string: this page's own, or the audit changelist's.

    Own: `case` (reference, repeatable), `case_id` (repeatable), `since`, `until` (YYYY-MM-DD,
    inclusive). Changelist: `action__exact`, `actor_type__exact`, `q` (part of a reference).
    """
    get = request.GET
    since, until = _date_param(request, "since"), _date_param(request, "until")
    if since and until and since > until:
        raise FilterError("'since' must be on or before 'until'.")
    actor_type = get.get("actor_type__exact", get.get("actor_type", ""))
    if actor_type and actor_type not in ActorType.values:
        raise FilterError(f"Unknown actor type '{actor_type}'.")
    others = {
        "since": since,
        "until": until,
        "action": get.get("action__exact", get.get("action", "")).strip(),
        "actor_type": actor_type,
        "reference_contains": get.get("q", "").strip(),
    }
    cases = _cases_param(request)
    if cases is None:
        return ExportFilter(**others)
    return ExportFilter.for_cases(cases, **others)


def export_response(export: Export) -> StreamingHttpResponse:
    """Stream an export: rows leave as they are read, never all held at once."""
    response = StreamingHttpResponse(export.lines(), content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["X-Audit-Chain-Head"] = f"{export.head.seq}:{export.head.hash}"
    return response


@staff_view(*EXPORT_PERMS)
def audit_export_view(request: HttpRequest) -> HttpResponse:
    """The audit trail as CSV or JSON Lines (`format=csv|jsonl`), filtered by the query string."""
    fmt = request.GET.get("format", "csv")
    if fmt not in FORMATS:
        return HttpResponseBadRequest(f"Unknown format '{fmt}': choose csv or jsonl.")
    try:
        filters = filters_from_query(request)
    except FilterError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain")
    return export_response(start_export(fmt, filters, actor=Actor.for_user(request.user)))


# Case list parameters that do not choose cases (page, ordering, error flag, popups).
CHANGELIST_NON_FILTERS = frozenset({"p", "o", "e", "_to_field", "_popup", "_changelist_filters"})
# Searches: `q` may be the subject's email, `found` is the opaque key of an email search.
CHANGELIST_SEARCHES = frozenset({"q", "found"})


def changelist_selection(request: HttpRequest) -> dict[str, Any]:
    """How a "select all" chose its cases: the case list's filters (the action posts to the
    list's URL, so they are in the query string), and whether a search was used, never its term."""
    params = request.GET
    filters = {
        key: params.get(key)
        for key in sorted(params)
        if key not in CHANGELIST_NON_FILTERS | CHANGELIST_SEARCHES and params.get(key)
    }
    selection: dict[str, Any] = {"select_all": True}
    if filters:
        selection["filters"] = filters
    if any(params.get(key, "").strip() for key in CHANGELIST_SEARCHES):
        selection["search"] = True
    return selection


def _selects_all(request: HttpRequest) -> bool:
    # The admin's action form sends select_across=1 when "Select all N" was clicked.
    return request.POST.get("select_across", "0") not in ("", "0", "False", "false")


def export_cases_response(request: HttpRequest, cases: Iterable[Case], fmt: str) -> HttpResponse:
    """For a changelist action: the audit trail of the selected (or all filtered) cases."""
    user = request.user
    if not (user.is_active and user.is_staff and user.has_perms(EXPORT_PERMS)):
        raise PermissionDenied
    selection = changelist_selection(request) if _selects_all(request) else None
    filters = ExportFilter.for_cases(cases, case_selection=selection)
    return export_response(start_export(fmt, filters, actor=Actor.for_user(user)))


# --------------------------------------------------------------------------- metrics


class PeriodForm(forms.Form):
    since = forms.DateField(label="From", help_text="Cases received on or after this day.")
    until = forms.DateField(label="To", help_text="…and on or before this day.")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The period must start on or before its end.")
        return data


def _default_period() -> dict[str, dt.date]:
    today = timezone.localdate()
    return {"since": today.replace(month=1, day=1), "until": today}


def _bars(report: metrics.MetricsReport) -> list[dict[str, Any]]:
    """Bar lengths (percent of the largest value) for the page's charts."""
    most = max((row.received for row in report.rows), default=0) or 1
    slowest = max((row.mean_days or 0 for row in report.rows), default=0)
    slowest = max(slowest, *(row.median_days or 0 for row in report.rows), 1)
    return [
        {
            "row": row,
            "counts": [
                (name, value, round(100 * value / most, 1))
                for name, value in (
                    ("received", row.received),
                    ("completed", row.completed),
                    ("rejected", row.rejected_total),
                    ("overdue", row.overdue),
                )
            ],
            "days": [
                (name, value, round(100 * (value or 0) / slowest, 1))
                for name, value in (("median", row.median_days), ("mean", row.mean_days))
            ],
        }
        for row in report.rows
    ]


@staff_view(*METRICS_PERMS)
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics report for a period, as a page with charts or (`format=csv`) as CSV."""
    form = PeriodForm(request.GET if "since" in request.GET else _default_period())
    report = metrics.compute(**form.cleaned_data) if form.is_valid() else None
    if report is not None and request.GET.get("format") == "csv":
        return _metrics_csv(request, report)
    context = {
        **admin.site.each_context(request),
        "title": "Request metrics",
        "form": form,
        "report": report,
        "bars": _bars(report) if report else [],
        "rejections": [
            (code, label, report.total.rejected[code]) for code, label in RejectionReason.choices
        ] if report else [],
        "csv_query": f"since={report.since}&until={report.until}&format=csv" if report else "",
    }
    status = 200 if report else 400
    return TemplateResponse(request, "audit/metrics.html", context, status=status)


def _metrics_csv(request: HttpRequest, report: metrics.MetricsReport) -> HttpResponse:
    record(
        METRICS_EXPORTED_ACTION,
        actor=Actor.for_user(request.user),
        details={"since": report.since.isoformat(), "until": report.until.isoformat()},
    )
    response = StreamingHttpResponse(metrics.csv_lines(report), content_type="text/csv")
    filename = f"request-metrics-{report.since}-to-{report.until}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --------------------------------------------------------------------------- mounting


def case_admin_urls(admin_site: AdminSite) -> list[URLPattern]:
    """For `CaseAdmin.get_urls`, before the default patterns (they would swallow these)."""
    wrap = admin_site.admin_view
    return [
        path("metrics/", wrap(metrics_view), name="cases_case_metrics"),
        path("<path:object_id>/case-file/", wrap(case_file_view), name="cases_case_case_file"),
    ]


def audit_event_admin_urls(admin_site: AdminSite) -> list[URLPattern]:
    """For `AuditEventAdmin.get_urls`, before the default patterns."""
    return [
        path("export/", admin_site.admin_view(audit_export_view), name="cases_auditevent_export"),
    ]
