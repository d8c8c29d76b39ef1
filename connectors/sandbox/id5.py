"""ID5 Privacy Requests API: deletion requests and their status (docs/vendors.md [ID5-DSAR]).

Quirks kept on purpose: the token travels in the query string; the partner error code is
spelled ``partiner_id_invalid``; rate limits are 403, not 429; the status 400 code is the
singular ``user_object_invalid``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from .catalog import ID5_IDENTIFIERS, ID5_JURISDICTIONS
from .http import HttpError, Reply, Request
from .progress import Progress
from .state import Id5Request, SandboxState

_HEX64 = re.compile(r"^[a-f0-9]{64}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ID5_ENCRYPTED = re.compile(r"^ID5\*[A-Za-z0-9_\-+/=]{20,}$")
_ID5_DECRYPTED = re.compile(r"^ID5-[A-Za-z0-9_\-]{8,}$")


def id5_error(status: int, code: str, kind: str, message: str) -> HttpError:
    return HttpError(
        Reply.json(status, {"error": {"code": code, "type": kind, "message": message}})
    )


def _invalid(message: str) -> HttpError:
    return id5_error(400, "user_objects_invalid", "validation_error", message)


def _authenticate(state: SandboxState, req: Request) -> int:
    token = req.query.get("token")
    if not token:
        raise id5_error(401, "api_token_invalid", "authentication_error", "No API token provided")
    partner = req.params["partner"]
    if not partner.isdigit() or int(partner) != state.config.id5_partner_id:
        raise id5_error(
            400,
            "partiner_id_invalid",
            "authentication_error",
            f"Invalid partner id {partner} provided",
        )
    if token != state.config.id5_token:
        # ID5 echoes the token back in this message; the sandbox does the same, on purpose.
        raise id5_error(
            403,
            "api_token_not_authorized",
            "authentication_error",
            f"Api token {token} does not have access to this resource",
        )
    return int(partner)


def create_deletion(state: SandboxState, req: Request) -> Reply:
    partner = _authenticate(state, req)
    body = _json_body(req)
    jurisdiction, identifiers = _validate(body)
    _check_limits(state, partner, identifiers)
    request = _new_request(state, partner, jurisdiction, identifiers, body.get("replyToEmail"))
    state.id5_requests[request.request_id] = request
    _count_usage(state, partner, identifiers)
    return Reply.json(200, {"id": request.request_id})


def _json_body(req: Request) -> dict[str, Any]:
    charset = req.content_params().get("charset", "utf-8").lower()
    if req.media_type != "application/json" or charset != "utf-8":
        raise id5_error(
            400,
            "request_format_invalid",
            "invalid_request_error",
            "application/json; charset=UTF-8 POST required",
        )
    try:
        body = req.json() if req.body.strip() else None
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise id5_error(
            400, "request_format_invalid", "invalid_request_error", "Missing required JSON body"
        )
    return body


def _validate(body: dict[str, Any]) -> tuple[str, dict[str, str]]:
    jurisdiction = body.get("jurisdiction")
    if not jurisdiction:
        raise _invalid("Missing required parameter 'jurisdiction'")
    if not isinstance(jurisdiction, str) or jurisdiction.upper() not in ID5_JURISDICTIONS:
        raise _invalid(f"Provided jurisdiction [{jurisdiction}] is not a valid one")
    identifiers = {k: body[k] for k in ID5_IDENTIFIERS if body.get(k) not in (None, "")}
    if not identifiers:
        raise _invalid("Missing one of parameters: ['id5id', 'email', 'maid']")
    for kind, value in identifiers.items():
        _check_identifier(kind, value)
    reply_to = body.get("replyToEmail")
    if reply_to is not None and (not isinstance(reply_to, str) or "@" not in reply_to):
        raise _invalid(f"Provided replyToEmail [{reply_to}] is not a valid one")
    return jurisdiction.upper(), identifiers


def _check_identifier(kind: str, value: Any) -> None:
    label = "ID5ID" if kind == "id5id" else kind
    if not isinstance(value, str):
        raise _invalid(f"Provided {label} [{value}] is not a valid one")
    if kind == "id5id" and value.startswith("ID5*") and not _ID5_ENCRYPTED.match(value):
        raise _invalid(f"Provided ID5ID [{value}] cannot be decrypted")
    if kind == "id5id" and not (_ID5_ENCRYPTED.match(value) or _ID5_DECRYPTED.match(value)):
        raise _invalid(f"Provided ID5ID [{value}] is not a valid one")
    if kind == "maid" and not _UUID.match(value):
        raise _invalid(f"Provided maid [{value}] is not a valid one")
    if kind == "email" and not (_HEX64.match(value) or "@" in value):
        raise _invalid(f"Provided email [{value}] is not a valid one")


def normalised_email_hash(value: str) -> str:
    """SHA-256 of the normalised email (ID5's rule), or the value if already hashed."""
    if _HEX64.match(value):
        return value
    local, _, domain = value.strip().lower().rpartition("@")
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.split("+", 1)[0].replace(".", ""), "gmail.com"
    return hashlib.sha256(f"{local}@{domain}".encode()).hexdigest()


def _usage_keys(state: SandboxState, identifiers: dict[str, str]) -> list[tuple[str, str]]:
    day = state.clock.utc_day()
    keys = []
    for kind, value in identifiers.items():
        if kind == "email":
            value = normalised_email_hash(value)
        elif kind == "maid":
            value = value.lower()
        keys.append((kind, f"{day}|{kind}|{value}"))
    return keys


def _check_limits(state: SandboxState, partner: int, identifiers: dict[str, str]) -> None:
    partner_key = f"{state.clock.utc_day()}|partner|{partner}"
    limit = state.config.id5_partner_daily_limit
    if state.id5_usage[partner_key] >= limit:
        raise id5_error(
            403,
            "api_rate_limit_error",
            "rate_limit_error",
            f"Limit of {limit:,} requests daily allowed per partner has been reached",
        )
    per_id = state.config.id5_identifier_daily_limit
    for kind, key in _usage_keys(state, identifiers):
        if state.id5_usage[key] >= per_id:
            raise id5_error(
                403,
                "api_rate_limit_error",
                "rate_limit_error",
                f"Limit of {per_id} request daily allowed per {kind} has been reached",
            )


def _count_usage(state: SandboxState, partner: int, identifiers: dict[str, str]) -> None:
    state.id5_usage[f"{state.clock.utc_day()}|partner|{partner}"] += 1
    for _kind, key in _usage_keys(state, identifiers):
        state.id5_usage[key] += 1


def _new_request(
    state: SandboxState,
    partner: int,
    jurisdiction: str,
    identifiers: dict[str, str],
    reply_to: str | None,
) -> Id5Request:
    text = " ".join([*identifiers.values(), reply_to or ""]).lower()
    outcome = "nodata" if "sandbox-nodata" in text else "deleted"
    if "sandbox-failed" in text:
        outcome = "failed"
    elif "sandbox-send-failed" in (reply_to or "").lower():
        outcome = "send_failed"
    return Id5Request(
        request_id=uuid.uuid4().hex,
        partner_id=partner,
        jurisdiction=jurisdiction,
        identifiers=identifiers,
        reply_to=reply_to,
        outcome=outcome,
        progress=Progress(path_for(outcome, reply_to), created=state.now()),
    )


def path_for(outcome: str, reply_to: str | None) -> list[str]:
    """CREATED → STARTED → DONE (→ SENT | SEND_FAILED when a reply address was given)."""
    if outcome == "failed":
        return ["CREATED", "STARTED", "FAILED"]
    path = ["CREATED", "STARTED", "DONE"]
    if reply_to or outcome == "send_failed":
        path.append("SEND_FAILED" if outcome == "send_failed" else "SENT")
    return path


def get_status(state: SandboxState, req: Request) -> Reply:
    _authenticate(state, req)
    raw = req.params["request_id"]
    try:
        request_id = uuid.UUID(raw).hex
    except ValueError as exc:
        raise id5_error(
            400, "user_object_invalid", "validation_error", "provided job id is not a valid UUID"
        ) from exc
    request = state.id5_requests.get(request_id)
    if request is None or request.partner_id != int(req.params["partner"]):
        raise id5_error(
            404, "user_objects_invalid", "invalid_request_error", "provided job UUID not found"
        )
    state.refresh(request.progress)
    return Reply.json(200, status_body(request))


def status_body(request: Id5Request) -> dict[str, Any]:
    status = request.progress.status
    result = "NONE"
    if status in ("DONE", "SENT", "SEND_FAILED"):
        result = "DELETE_NO_DATA" if request.outcome == "nodata" else "DELETE_DELETED"
    sent = request.progress.reached.get("SENT") if status == "SENT" else None
    return {
        "id": request.request_id,
        "jobStatus": status,
        "processingResult": result,
        "emailSentUnixTimestamp": int(sent * 1000) if sent is not None else None,
    }
