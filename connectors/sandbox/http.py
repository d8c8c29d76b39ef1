"""Transport-neutral request and reply objects, JSON helpers and secret redaction."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

REDACTED = "***"
# Query/form parameters whose values are secrets: ID5's permanent token, the result ZIP
# signature, IMS secrets and tokens.
SECRET_PARAMS = ("token", "sig", "client_secret", "access_token")
_SECRET_QUERY = re.compile(r"(?i)(?<=[?&])(" + "|".join(SECRET_PARAMS) + r")=[^&#]*")


def redact_url(url: str) -> str:
    """The URL with every secret query value replaced (safe to log)."""
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}={REDACTED}", url)


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers with Authorization/Cookie values hidden (the auth scheme is kept)."""
    clean = {}
    for name, value in headers.items():
        if name.lower() in ("authorization", "proxy-authorization"):
            scheme = value.split(" ", 1)[0] if " " in value else ""
            clean[name] = f"{scheme} {REDACTED}".strip()
        elif name.lower() == "cookie":
            clean[name] = REDACTED
        else:
            clean[name] = value
    return clean


@dataclass
class Request:
    """One HTTP request as the sandbox sees it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    base_url: str = ""
    params: dict[str, str] = field(default_factory=dict)
    raw_query: str = ""

    @classmethod
    def build(
        cls, method: str, target: str, headers: dict[str, str], body: bytes, base_url: str
    ) -> Request:
        path, _, raw_query = target.partition("?")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        return cls(method.upper(), path, query, headers, body, base_url, raw_query=raw_query)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    @property
    def media_type(self) -> str:
        return (self.header("Content-Type") or "").split(";", 1)[0].strip().lower()

    def content_params(self) -> dict[str, str]:
        """Parameters of the Content-Type header, e.g. ``{"charset": "UTF-8"}``."""
        parts = (self.header("Content-Type") or "").split(";")[1:]
        pairs = (p.split("=", 1) for p in parts if "=" in p)
        return {k.strip().lower(): v.strip().strip('"') for k, v in pairs}

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    @property
    def target(self) -> str:
        return self.path + (f"?{self.raw_query}" if self.raw_query else "")


@dataclass
class Reply:
    """What to send back: a response, or ``drop`` = close the socket without answering."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False

    @classmethod
    def json(
        cls,
        status: int,
        data: Any,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Reply:
        body = json.dumps(data, separators=(",", ":")).encode("utf-8")
        return cls(status, body, {"Content-Type": content_type, **(headers or {})})

    @classmethod
    def dropped(cls) -> Reply:
        return cls(status=0, drop=True)

    def data(self) -> Any:
        """The JSON body (used by tests of the app without sockets)."""
        return json.loads(self.body)


class HttpError(Exception):
    """Raised by vendor handlers to answer with an error reply."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply
