"""The 403 handler: the styled page, and exactly one log line per refused request.

Django's own handling logs a PermissionDenied at WARNING with the exception's full traceback
(`django.request`), which says nothing a reader needs and buries the log: 44 tracebacks in one
auditor's session. Here a refusal is one line: method, path (never the query string, which may
hold search terms), user id and reason. A refusal on a page of one case (or of one of its
records: a message, a subject, a vendor job...) is also audited as `access.denied` on that case,
with the page's name, never its data.
"""

import logging

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest, HttpResponseForbidden
from django.template import loader

from cases.audit import Actor, record
from cases.models import Case

log = logging.getLogger("cases.access")
DEFAULT_REASON = "permission denied"


def _escaped(text: str) -> str:
    # As Django escapes what it logs: a crafted path cannot forge a second log line.
    return text.encode("unicode_escape").decode("ascii")


def permission_denied(request: HttpRequest, exception: Exception | None = None):
    """`handler403`: log one line, answer with templates/403.html."""
    reason = str(exception or "") or DEFAULT_REASON
    user = getattr(request, "user", None)
    user_id = user.pk if user is not None and user.is_authenticated else "-"
    log.warning(
        "Forbidden: %s %s user=%s reason=%s",
        request.method, _escaped(request.path), user_id, _escaped(reason),
    )
    if user_id != "-":
        _audit_denied(request, user)
    shown = "" if reason == DEFAULT_REASON else reason
    response = HttpResponseForbidden(
        loader.render_to_string("403.html", {"reason": shown}, request)
    )
    # Django logs the exception again (with its traceback) unless the response says it was
    # logged already: django.utils.log.log_response checks this flag.
    response._has_been_logged = True
    return response


def _denied_case(request: HttpRequest) -> Case | None:
    """The case an admin URL is about: `/admin/cases/<model>/<object_id>/...` names a case or
    a record that belongs to one."""
    match = request.resolver_match
    object_id = (match.kwargs.get("object_id") if match else None) or ""
    parts = (match.url_name or "").split("_") if match else []
    if not object_id.isdigit() or len(parts) < 3 or parts[0] != "cases":
        return None
    try:
        model = apps.get_model("cases", parts[1])
    except LookupError:
        return None
    obj = model.objects.filter(pk=object_id).first()
    if obj is None or isinstance(obj, Case):
        return obj
    try:
        model._meta.get_field("case")
    except FieldDoesNotExist:
        return None
    return obj.case


def _audit_denied(request: HttpRequest, user) -> None:
    case = _denied_case(request)
    if case is not None:
        what = request.resolver_match.url_name
        record(
            "access.denied", actor=Actor.for_user(user), case=case,
            details={"view": what, "method": request.method},
        )
