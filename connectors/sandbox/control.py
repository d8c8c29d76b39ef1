"""The sandbox's own control API under ``/_sandbox`` (no auth: loopback test server).

- ``GET  /_sandbox/health``                → ``{"ok": true}``
- ``GET  /_sandbox/requests?vendor=&operation=`` → ``{"counters", "requests"}`` (secrets redacted)
- ``GET  /_sandbox/counters``              → ``{"counters": {"vendor.operation": n}}``
- ``POST /_sandbox/reset``                 → forget jobs, tokens, usage, counters, faults, clock
- ``GET|POST|DELETE /_sandbox/faults``     → list / arm (see faults.py) / clear faults
- ``POST /_sandbox/advance``               → ``{"steps": n, "seconds": s, "id": optional}``
- ``POST /_sandbox/outcome``               → ``{"id": job/workorder/ID5 id, "outcome": ...}``
- ``POST /_sandbox/tokens/revoke``         → every issued IMS token becomes invalid
- ``GET  /_sandbox/state``                 → jobs, work orders, ID5 requests, clock, config
- ``GET|POST /_sandbox/config``            → read / change settings (e.g. speed, limits)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import hygiene, id5, privacy
from .faults import parse_fault
from .http import HttpError, Reply, Request
from .progress import Progress, iso_date
from .state import SandboxState

OUTCOMES = {
    "adobe_privacy": tuple(privacy.PATHS),
    "adobe_hygiene": ("completed", "failed"),
    "id5": ("deleted", "nodata", "failed", "send_failed"),
}


def _bad(message: str, status: int = 400) -> HttpError:
    return HttpError(Reply.json(status, {"error": message}))


def _body(req: Request) -> dict[str, Any]:
    if not req.body.strip():
        return {}
    try:
        data = req.json()
    except ValueError as exc:
        raise _bad("body must be JSON") from exc
    if not isinstance(data, dict):
        raise _bad("body must be a JSON object")
    return data


def health(state: SandboxState, req: Request) -> Reply:
    return Reply.json(200, {"ok": True, "url": req.base_url})


def requests_log(state: SandboxState, req: Request) -> Reply:
    vendor, operation = req.query.get("vendor"), req.query.get("operation")
    return Reply.json(
        200,
        {
            "counters": state.recorder.counters(),
            "requests": state.recorder.requests(vendor, operation),
        },
    )


def counters(state: SandboxState, req: Request) -> Reply:
    return Reply.json(200, {"counters": state.recorder.counters()})


def reset(state: SandboxState, req: Request) -> Reply:
    state.reset()
    return Reply.json(200, {"ok": True})


def faults(state: SandboxState, req: Request) -> Reply:
    if req.method == "DELETE":
        state.faults.clear()
    elif req.method == "POST":
        try:
            fault = parse_fault(_body(req), state.config.max_fault_delay)
        except (TypeError, ValueError) as exc:
            raise _bad(str(exc)) from exc
        state.faults.add(fault)
    return Reply.json(200, {"faults": state.faults.list()})


def advance(state: SandboxState, req: Request) -> Reply:
    body = _body(req)
    try:
        steps, seconds = int(body.get("steps", 0)), float(body.get("seconds", 0))
    except (TypeError, ValueError) as exc:
        raise _bad("steps must be an integer and seconds a number") from exc
    if steps < 0 or seconds < 0:
        raise _bad("steps and seconds must not be negative")
    with state.lock:
        state.clock.advance(seconds)
        targets = [_progress_of(state, body["id"])] if body.get("id") else state.all_progress()
        for progress in targets:
            progress.bonus += steps
            state.refresh(progress)
    return Reply.json(200, {"clock": iso_date(state.now()), "advanced": len(targets)})


def _find(state: SandboxState, job_id: str) -> tuple[str, Any]:
    stores = (
        ("adobe_privacy", state.privacy_jobs),
        ("adobe_hygiene", state.workorders),
        ("id5", state.id5_requests),
    )
    for vendor, store in stores:
        if job_id in store:
            return vendor, store[job_id]
    raise _bad(f"no job, work order or ID5 request with id {job_id}", 404)


def _progress_of(state: SandboxState, job_id: str) -> Progress:
    return _find(state, job_id)[1].progress


def outcome(state: SandboxState, req: Request) -> Reply:
    body = _body(req)
    with state.lock:
        vendor, job = _find(state, str(body.get("id", "")))
        wanted = body.get("outcome")
        if wanted not in OUTCOMES[vendor]:
            raise _bad(f"outcome for {vendor} must be one of {list(OUTCOMES[vendor])}")
        job.outcome = wanted
        job.progress.reroute(_path(vendor, job, wanted))
        state.refresh(job.progress)
    return Reply.json(
        200, {"id": body["id"], "vendor": vendor, "outcome": wanted, "status": job.progress.status}
    )


def _path(vendor: str, job: Any, wanted: str) -> list[str]:
    if vendor == "adobe_privacy":
        return list(privacy.PATHS[wanted])
    if vendor == "adobe_hygiene":
        return hygiene.path_for(wanted)
    return id5.path_for(wanted, job.reply_to)


def revoke_tokens(state: SandboxState, req: Request) -> Reply:
    with state.lock:
        count = len(state.tokens)
        state.tokens.clear()
    return Reply.json(200, {"revoked": count})


def dump_state(state: SandboxState, req: Request) -> Reply:
    with state.lock:
        for progress in state.all_progress():
            state.refresh(progress)
        data = {
            "clock": iso_date(state.now()),
            "config": state.config.public(),
            "tokens": len(state.tokens),
            "privacy_jobs": [
                privacy.job_detail(state, j, req.base_url) for j in state.privacy_jobs.values()
            ],
            "workorders": [
                {"workorderId": w.workorder_id, "status": w.progress.status}
                for w in state.workorders.values()
            ],
            "id5_requests": [id5.status_body(r) for r in state.id5_requests.values()],
            "faults": state.faults.list(),
        }
    return Reply.json(200, data)


def config(state: SandboxState, req: Request) -> Reply:
    if req.method == "POST":
        with state.lock:
            try:
                state.config.update(_body(req))
            except ValueError as exc:
                raise _bad(str(exc)) from exc
    return Reply.json(200, {"config": state.config.public()})


Handler = Callable[[SandboxState, Request], Reply]
ROUTES: dict[str, tuple[tuple[str, ...], Handler]] = {
    "/_sandbox/health": (("GET",), health),
    "/_sandbox/requests": (("GET",), requests_log),
    "/_sandbox/counters": (("GET",), counters),
    "/_sandbox/reset": (("POST",), reset),
    "/_sandbox/faults": (("GET", "POST", "DELETE"), faults),
    "/_sandbox/advance": (("POST",), advance),
    "/_sandbox/outcome": (("POST",), outcome),
    "/_sandbox/tokens/revoke": (("POST",), revoke_tokens),
    "/_sandbox/state": (("GET",), dump_state),
    "/_sandbox/config": (("GET", "POST"), config),
}


def handle(state: SandboxState, req: Request) -> Reply:
    route = ROUTES.get(req.path.rstrip("/"))
    if route is None:
        return Reply.json(404, {"error": f"unknown control endpoint {req.path}"})
    methods, handler = route
    if req.method not in methods:
        return Reply.json(
            405, {"error": f"use {', '.join(methods)}"}, headers={"Allow": ", ".join(methods)}
        )
    try:
        return handler(state, req)
    except HttpError as exc:
        return exc.reply
