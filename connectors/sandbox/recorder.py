"""Counters and a log of every vendor request received, secrets redacted.

Tests use it to prove a request was (or was not) sent twice: ``GET /_sandbox/requests``.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from typing import Any

from .http import REDACTED, SECRET_PARAMS, Request, redact_headers, redact_url
from .progress import iso_date


class Recorder:
    """Thread-safe: counts exactly, keeps the last ``limit`` requests in full."""

    def __init__(self, limit: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._log: deque[dict[str, Any]] = deque(maxlen=limit)
        self._seq = 0

    def start(self, vendor: str, operation: str, request: Request, now: float) -> dict[str, Any]:
        entry = {
            "vendor": vendor,
            "operation": operation,
            "method": request.method,
            "path": redact_url(request.target),
            "headers": redact_headers(request.headers),
            "body": _body(request),
            "received_at": iso_date(now),
            "status": None,
            "outcome": "pending",
            "fault": None,
        }
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._counts[f"{vendor}.{operation}"] += 1
            self._log.append(entry)
        return entry

    def finish(self, entry: dict[str, Any], status: int, outcome: str) -> None:
        with self._lock:
            entry["status"] = status or None
            entry["outcome"] = outcome

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))

    def requests(self, vendor: str | None = None, operation: str | None = None) -> list[dict]:
        with self._lock:
            return [
                dict(e)
                for e in self._log
                if (vendor is None or e["vendor"] == vendor)
                and (operation is None or e["operation"] == operation)
            ]

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self._log.clear()
            self._seq = 0


def _body(request: Request) -> Any:
    if not request.body:
        return None
    if request.media_type == "application/x-www-form-urlencoded":
        return _redact_mapping(request.form())
    try:
        return _redact_mapping(json.loads(request.body.decode("utf-8")))
    except ValueError:
        return request.body.decode("utf-8", "replace")


def _redact_mapping(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: REDACTED if k in SECRET_PARAMS else _redact_mapping(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_redact_mapping(v) for v in data]
    return data
