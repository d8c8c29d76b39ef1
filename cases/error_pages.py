"""The 403 handler: the styled page, and exactly one log line per refused request.

Django's own handling logs a PermissionDenied at WARNING with the exception's full traceback
(`django.request`), which says nothing a reader needs and buries the log: 44 tracebacks in one
auditor's session. Here a refusal is one line: method, path (never the query string, which may
hold search terms), user id and reason.
"""

import logging

from django.http import HttpRequest, HttpResponseForbidden
from django.template import loader

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
    shown = "" if reason == DEFAULT_REASON else reason
    response = HttpResponseForbidden(
        loader.render_to_string("403.html", {"reason": shown}, request)
    )
    # Django logs the exception again (with its traceback) unless the response says it was
    # logged already: django.utils.log.log_response checks this flag.
    response._has_been_logged = True
    return response
