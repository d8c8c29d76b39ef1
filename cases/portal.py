"""The subject portal under /portal/: plain pages reached only through links in messages.

No login, no JavaScript, nothing from other hosts. Every response under /portal/ (error pages
included) carries strict headers (`PortalHeadersMiddleware`). A page never names a reference or
an email address, so it cannot tell anyone whether a request exists: an unknown link is a 404,
an expired, used or withdrawn one a 410, each with a page saying what to do.
"""

import hashlib
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases import responses, verification
from cases.choices import TokenState

log = logging.getLogger(__name__)
PREFIX = "/portal/"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
REFUSED_STATUS = {
    TokenState.UNKNOWN: 404,
    TokenState.EXPIRED: 410,
    TokenState.USED: 410,
    TokenState.REVOKED: 410,
}


class PortalHeadersMiddleware:
    """Put the portal's headers on every response under /portal/ (404 and CSRF pages too).

    Listed right after SecurityMiddleware, so it runs after the clickjacking middleware and
    before SecurityMiddleware's defaults, which then leave these values alone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(PREFIX):
            for name, value in HEADERS.items():
                response[name] = value
        return response




def _over_limit(request: HttpRequest, token: str) -> bool:
    """More than PORTAL_ATTEMPTS_PER_MINUTE from this address, or for this link, this minute.

    Keys hold hashes, never the address or the token. The address is REMOTE_ADDR: behind a
    proxy that is the proxy's, so the per-link limit is what protects each link there."""
    minute = int(time.time() // 60)
    address = hashlib.sha256(request.META.get("REMOTE_ADDR", "").encode()).hexdigest()[:32]
    keys = [f"portal:ip:{address}:{minute}",
            f"portal:token:{hashlib.sha256(token.encode()).hexdigest()[:32]}:{minute}"]
    over = False
    for key in keys:
        cache.add(key, 0, timeout=120)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=120)
            count = 1
        over = over or count > settings.PORTAL_ATTEMPTS_PER_MINUTE
    return over


def _page(request: HttpRequest, template: str, status: int = 200, **context) -> HttpResponse:
    return render(request, f"portal/{template}", context, status=status)


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return _page(request, "index.html")


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the Confirm button and verifies nothing (mail scanners open links); POST
    confirms."""
    if _over_limit(request, token):
        log.warning("Portal rate limit reached (%s)", request.method)
        response = _page(request, "rate_limited.html", status=429)
        response["Retry-After"] = "60"
        return response
    if request.method == "POST":
        state = verification.confirm(token)
        template = "verified.html"
    else:
        state = verification.open_link(token)
        template = "verify.html"
    if state != TokenState.VALID:
        log.info("Portal link refused: %s", state)
        return _page(request, "refused.html", status=REFUSED_STATUS[state], state=state)
    return _page(request, template)


def _limited(request: HttpRequest) -> HttpResponse:
    log.warning("Portal rate limit reached (%s)", request.method)
    response = _page(request, "rate_limited.html", status=429)
    response["Retry-After"] = "60"
    return response


def _response_refused(request: HttpRequest, state: str) -> HttpResponse:
    log.info("Portal response link refused: %s", state)
    return _page(request, "response_refused.html", status=REFUSED_STATUS[state], state=state)


@require_GET
def response(request: HttpRequest, token: str) -> HttpResponse:
    """What the package holds and the download button. Opening it is not a download."""
    if _over_limit(request, token):
        return _limited(request)
    lookup = responses.open_page(token)
    if lookup.state != TokenState.VALID:
        return _response_refused(request, lookup.state)
    package = lookup.package
    used = responses.token_downloads(lookup.token)
    return _page(request, "response.html", package=package, token=lookup.token,
                 expires=timezone.localdate(lookup.token.expires_at),
                 left=package.max_downloads - used,
                 has_report=any(row["path"] == "report.html" for row in package.manifest))


@require_POST
def response_download(request: HttpRequest, token: str) -> HttpResponse:
    """One download of the package, counted and audited; past the limit a 410 page."""
    if _over_limit(request, token):
        return _limited(request)
    lookup = responses.claim_download(token)
    if lookup.state != TokenState.VALID:
        return _response_refused(request, lookup.state)
    package = lookup.package
    try:
        handle = package.file.open("rb")
    except (FileNotFoundError, ValueError):
        log.error("Response package %s is missing from storage", package.pk)
        return _response_refused(request, TokenState.EXPIRED)
    return FileResponse(handle, as_attachment=True, filename=package.filename,
                        content_type="application/zip")


app_name = "portal"
urlpatterns = [
    path("", index, name="index"),
    path("verify/<str:token>/", verify, name="verify"),
    path("response/<str:token>/", response, name="response"),
    path("response/<str:token>/download/", response_download, name="response_download"),
]
