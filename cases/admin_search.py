"""Searching the case list by the subject's email without the address entering a URL.

The admin's search box is a GET form: the term lands in the query string, then in
`_changelist_filters`, pagination and filter links, browser history, Referer headers and the
server's access log. Here the box POSTs to `search_view`. A term that may be an email (it holds
an "@") is looked up at once (blind index, `CaseAdmin.get_search_results`); the matching case
ids are kept in the officer's session under a random key and the browser is sent to the list with
only that key (`?found=<key>`), which `FoundFilter` applies. Any other term goes to the usual
`?q=`. A GET with an email in `q` (an old bookmark) is redirected to the list without it: that
first request was logged already, nothing after it is.
"""

import secrets
from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import reverse

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

SEARCH_PARAM = "q"
FOUND_PARAM = "found"
SESSION_KEY = "pd_case_searches"
# Searches kept per session (newest win): enough for a few tabs, bounded however many are run.
KEPT_SEARCHES = 10
# Sent with the search form but not list filters: never carried into the list's URL.
NOT_CARRIED = frozenset({"csrfmiddlewaretoken", SEARCH_PARAM, FOUND_PARAM, "p", "e"})
BOOKMARK_WARNING = (
    "An email address in a page address is kept in browser history and server logs, so it was "
    "removed from this one. Search by email with the search box."
)


def is_private_term(term: str) -> bool:
    """A term that may be (part of) an email address: never put it in a URL."""
    return "@" in term


def remember(request: HttpRequest, case_ids: list[int]) -> str:
    """Keep the found case ids in the session; returns the opaque key for the URL."""
    searches = dict(request.session.get(SESSION_KEY, {}))
    key = secrets.token_urlsafe(12)
    searches[key] = case_ids
    request.session[SESSION_KEY] = dict(list(searches.items())[-KEPT_SEARCHES:])
    return key


def found_ids(request: HttpRequest, key: str) -> list[int] | None:
    """The case ids of a remembered search; None when the key is unknown or expired."""
    return request.session.get(SESSION_KEY, {}).get(key)


def _list_url(params: QueryDict) -> str:
    url = reverse("admin:cases_case_changelist")
    return f"{url}?{params.urlencode()}" if params else url


def search_view(model_admin: "ModelAdmin", request: HttpRequest) -> HttpResponse:
    """POST target of the case list's search box; redirects to the list (see module doc)."""
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    if request.method != "POST":
        return HttpResponseRedirect(reverse("admin:cases_case_changelist"))
    params = QueryDict(mutable=True)
    for key, values in request.POST.lists():
        if key not in NOT_CARRIED:
            params.setlist(key, values)
    term = request.POST.get(SEARCH_PARAM, "").strip()
    if term and is_private_term(term):
        found, _ = model_admin.get_search_results(request, model_admin.get_queryset(request), term)
        params[FOUND_PARAM] = remember(request, sorted(found.values_list("pk", flat=True)))
    elif term:
        params[SEARCH_PARAM] = term
    return HttpResponseRedirect(_list_url(params))


def bookmark_redirect(model_admin: "ModelAdmin", request: HttpRequest) -> HttpResponse | None:
    """For the list's GET: an email in `q` is taken out of the URL before any link repeats it."""
    if request.method != "GET" or not is_private_term(request.GET.get(SEARCH_PARAM, "")):
        return None
    params = request.GET.copy()
    del params[SEARCH_PARAM]
    model_admin.message_user(request, BOOKMARK_WARNING, messages.WARNING)
    return HttpResponseRedirect(_list_url(params))


def found_note(request: HttpRequest) -> str:
    """The line above the list while an email search is applied."""
    key = request.GET.get(FOUND_PARAM)
    if not key:
        return ""
    ids = found_ids(request, key)
    if ids is None:
        return "That search has expired: search again with the search box."
    return f"Cases of the subject you searched for ({len(ids)})"


class FoundFilter(admin.SimpleListFilter):
    """Applies a remembered email search (`?found=<key>`); shown only while one is applied."""

    title = "email search"
    parameter_name = FOUND_PARAM

    def lookups(self, request, model_admin):
        if not self.value():
            return []
        ids = found_ids(request, self.value())
        count = "expired" if ids is None else len(ids)
        return [(self.value(), f"The subject you searched for ({count})")]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(pk__in=found_ids(request, self.value()) or [])
