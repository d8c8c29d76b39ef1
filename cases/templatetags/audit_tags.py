"""The admin home's audit trail box: `{% load audit_tags %}{% audit_status %}`."""

import datetime as dt

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from cases.audit import last_verification
from cases.audit_views import EXPORT_PERMS, METRICS_PERMS

register = template.Library()

# The check runs hourly; a day without one means the worker is down or the schedule is gone.
STALE_AFTER = dt.timedelta(days=1)


def _url(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:  # not mounted (yet): leave the link out rather than break the page
        return ""


@register.inclusion_tag("audit/_verification_status.html", takes_context=True)
def audit_status(context: template.Context) -> dict:
    """The last verification's outcome, plus metrics and export links the user may follow."""
    user = context["request"].user
    verification = last_verification()
    return {
        "verification": verification,
        "stale": bool(verification and timezone.now() - verification.checked_at > STALE_AFTER),
        "metrics_url": _url("admin:cases_case_metrics") if user.has_perms(METRICS_PERMS) else "",
        "export_url": _url("admin:cases_auditevent_export") if user.has_perms(EXPORT_PERMS) else "",
    }
