"""Routing, recording and fault injection around the vendor handlers (no sockets here)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from . import control, hygiene, id5, ims, privacy
from .faults import BEFORE, Fault, error_reply, malformed
from .http import HttpError, Reply, Request, redact_url
from .state import SandboxState

log = logging.getLogger("connectors.sandbox")

Handler = Callable[[SandboxState, Request], Reply]
_ID5 = r"^/id5/partners/v1/(?P<partner>[^/]+)/privacy/requests"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    vendor: str
    operation: str
    handler: Handler


def _route(method: str, pattern: str, vendor: str, operation: str, handler: Handler) -> Route:
    return Route(method, re.compile(pattern), vendor, operation, handler)


ROUTES = [
    _route("POST", r"^/adobe/ims/ims/token/v3/?$", "adobe_ims", "token", ims.issue_token),
    _route("POST", r"^/adobe/privacy/jobs/?$", "adobe_privacy", "create_jobs", privacy.create_jobs),
    _route("GET", r"^/adobe/privacy/jobs/?$", "adobe_privacy", "list_jobs", privacy.list_jobs),
    _route(
        "GET",
        r"^/adobe/privacy/jobs/(?P<job_id>[^/]+)/?$",
        "adobe_privacy",
        "get_job",
        privacy.get_job,
    ),
    _route(
        "GET",
        r"^/adobe/download/(?P<job_id>[^/]+)\.zip$",
        "adobe_privacy",
        "download_result",
        privacy.download_result,
    ),
    _route(
        "POST",
        r"^/adobe/hygiene/workorder/?$",
        "adobe_hygiene",
        "create_workorder",
        hygiene.create_workorder,
    ),
    _route(
        "GET",
        r"^/adobe/hygiene/workorder/(?P<workorder_id>[^/]+)/?$",
        "adobe_hygiene",
        "get_workorder",
        hygiene.get_workorder,
    ),
    _route("GET", r"^/adobe/hygiene/quota/?$", "adobe_hygiene", "get_quota", hygiene.get_quota),
    _route("POST", _ID5 + r"/deletion/?$", "id5", "create_deletion", id5.create_deletion),
    _route(
        "GET", _ID5 + r"/(?P<request_id>[^/]+)/?$", "id5", "get_deletion_status", id5.get_status
    ),
]
PREFIXES = (
    ("/adobe/ims", "adobe_ims"),
    ("/adobe/privacy", "adobe_privacy"),
    ("/adobe/download", "adobe_privacy"),
    ("/adobe/hygiene", "adobe_hygiene"),
    ("/id5", "id5"),
)


def _not_found(state: SandboxState, req: Request) -> Reply:
    return Reply.json(404, {"error": "not_found", "message": f"No route for {req.path}"})


def _not_allowed(state: SandboxState, req: Request) -> Reply:
    return Reply.json(405, {"error": "method_not_allowed", "message": f"{req.method} not allowed"})


def match(req: Request) -> tuple[str, str, Handler]:
    """(vendor, operation, handler) for a request; unknown routes are answered with 404/405."""
    path_known = False
    for route in ROUTES:
        found = route.pattern.match(req.path)
        if found and route.method == req.method:
            req.params = found.groupdict()
            return route.vendor, route.operation, route.handler
        path_known = path_known or bool(found)
    vendor = next((v for prefix, v in PREFIXES if req.path.startswith(prefix)), "unknown")
    if path_known:
        return vendor, "method_not_allowed", _not_allowed
    return vendor, "unknown", _not_found


class App:
    """Turns a Request into a Reply; thread-safe; ``stopping`` interrupts injected delays."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.stopping = threading.Event()

    def dispatch(self, req: Request) -> Reply:
        if req.path.startswith("/_sandbox"):
            return control.handle(self.state, req)
        vendor, operation, handler = match(req)
        entry = self.state.recorder.start(vendor, operation, req, self.state.now())
        fault = self.state.faults.take(vendor, operation)
        entry["fault"] = fault.kind if fault else None
        reply = self._run(vendor, handler, req, fault)
        self.state.recorder.finish(entry, reply.status, "dropped" if reply.drop else "answered")
        log.info(
            "%s %s -> %s%s",
            req.method,
            redact_url(req.target),
            "dropped" if reply.drop else reply.status,
            f" (fault {fault.kind})" if fault else "",
        )
        return reply

    def _run(self, vendor: str, handler: Handler, req: Request, fault: Fault | None) -> Reply:
        if fault is None:
            return self._call(handler, req)
        if fault.kind in BEFORE:
            return self._before(vendor, fault)
        if fault.kind == "slow":
            self.stopping.wait(fault.delay)
        reply = self._call(handler, req)
        if fault.kind == "drop_after":
            return Reply.dropped()
        if fault.kind == "malformed":
            return malformed(reply)
        return reply

    def _before(self, vendor: str, fault: Fault) -> Reply:
        if fault.kind == "5xx":
            return error_reply(vendor, fault.status)
        if fault.kind == "429":
            return error_reply(vendor, 429, fault.retry_after)
        if fault.kind == "429_no_retry_after":
            return error_reply(vendor, 429)
        if fault.kind == "timeout":
            self.stopping.wait(fault.delay)
        return Reply.dropped()

    def _call(self, handler: Handler, req: Request) -> Reply:
        try:
            with self.state.lock:
                return handler(self.state, req)
        except HttpError as exc:
            return exc.reply
        except Exception:
            log.exception("sandbox handler failed for %s %s", req.method, redact_url(req.target))
            return Reply.json(500, {"error": "sandbox_internal_error"})
