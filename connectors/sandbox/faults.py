"""Fault injection: what the next matching request(s) will suffer.

Kinds (applied to vendor requests only, consumed one per matching request):

- ``5xx``: answer ``status`` (default 503) with a vendor-shaped error body; request not applied.
- ``429``: answer 429 with ``Retry-After: retry_after`` (default 1); not applied.
- ``429_no_retry_after``: the same without the header.
- ``timeout``: wait ``delay`` seconds, then close the socket without answering; not applied.
- ``slow``: wait ``delay`` seconds, then handle the request normally.
- ``drop``: close the socket without answering; not applied.
- ``drop_after``: apply the request (a job IS created), then close without answering.
- ``malformed``: apply the request, then send its status with a truncated, invalid JSON body.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import asdict, dataclass
from typing import Any

from .http import Reply

VENDORS = ("adobe_ims", "adobe_privacy", "adobe_hygiene", "id5")
KINDS = ("5xx", "429", "429_no_retry_after", "timeout", "slow", "drop", "drop_after", "malformed")
# Kinds decided before the request is applied; the others act after (or around) it.
BEFORE = frozenset({"5xx", "429", "429_no_retry_after", "timeout", "drop"})


@dataclass
class Fault:
    """One armed fault; ``count`` -1 means until cleared."""

    kind: str
    vendor: str = "*"
    operation: str | None = None
    count: int = 1
    delay: float = 0.0
    status: int = 503
    retry_after: int = 1
    id: int = 0

    def matches(self, vendor: str, operation: str) -> bool:
        return self.vendor in ("*", vendor) and self.operation in (None, "*", operation)


def parse_fault(data: Any, max_delay: float) -> Fault:
    """Validate a ``POST /_sandbox/faults`` body; raises ValueError with a message."""
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    fault = Fault(
        kind=str(data.get("kind", "")),
        vendor=str(data.get("vendor", "*")),
        operation=data.get("operation"),
        count=int(data.get("count", 1)),
        delay=min(float(data.get("delay", 0.0)), max_delay),
        status=int(data.get("status", 503)),
        retry_after=int(data.get("retry_after", 1)),
    )
    if fault.kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}")
    if fault.vendor not in (*VENDORS, "*"):
        raise ValueError(f"vendor must be one of {[*VENDORS, '*']}")
    if fault.kind == "5xx" and not 500 <= fault.status <= 599:
        raise ValueError("status must be 500..599 for kind 5xx")
    if fault.count == 0 or fault.count < -1:
        raise ValueError("count must be a positive number, or -1 for until cleared")
    return fault


class FaultBook:
    """Armed faults in the order they were added; the first match is consumed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault

    def take(self, vendor: str, operation: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(vendor, operation):
                    if fault.count > 0:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


def error_reply(vendor: str, status: int, retry_after: int | None = None) -> Reply:
    """A vendor-shaped 5xx/429 answer."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if vendor == "id5":
        body = _id5_error(status)
    elif vendor == "adobe_ims":
        code = "too_many_requests" if status == 429 else "server_error"
        body = {"error": code, "error_description": "Sandbox injected fault"}
    else:
        message = "Too many requests" if status == 429 else "Service unavailable"
        body = {"error_code": f"{status}050", "message": message}
    return Reply.json(status, body, headers=headers)


def _id5_error(status: int) -> dict[str, Any]:
    if status == 429:
        error = {
            "code": "api_rate_limit_error",
            "type": "rate_limit_error",
            "message": "Too many requests",
        }
    else:
        error = {
            "code": "internal_id5_error",
            "type": "api_error",
            "message": f"Internal error id: {secrets.token_hex(8)}",
        }
    return {"error": error}


def malformed(reply: Reply) -> Reply:
    """The same status with a body cut in half and garbage appended: not valid JSON."""
    cut = reply.body[: max(1, len(reply.body) // 2)]
    return Reply(reply.status, cut + b'\x00{"', {"Content-Type": "application/json"})
