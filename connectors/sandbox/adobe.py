"""What Adobe's API gateway checks before Privacy Service or Data Hygiene see a request.

Gateway error bodies (``{"error_code", "message"}``) follow what platform.adobe.io returns; the
exact codes are as commonly reported, not from a spec.
"""

from __future__ import annotations

from typing import Any

from .http import HttpError, Reply, Request
from .state import SandboxState


def gateway_error(status: int, code: str, message: str) -> HttpError:
    return HttpError(Reply.json(status, {"error_code": code, "message": message}))


def check_gateway(state: SandboxState, req: Request) -> str:
    """Bearer token, x-api-key and x-gw-ims-org-id; returns the token's client id."""
    client_id = _check_token(state, req.header("Authorization") or "")
    api_key = req.header("x-api-key")
    if not api_key:
        raise gateway_error(403, "403000", "Api Key is required")
    if api_key != state.config.client_id or api_key != client_id:
        raise gateway_error(403, "403003", "Api Key is invalid")
    if req.header("x-gw-ims-org-id") != state.config.org_id:
        raise gateway_error(403, "403023", "Profile is not valid")
    return client_id


def _check_token(state: SandboxState, authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    known = state.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if known is None or known.expires_at <= state.now():
        raise gateway_error(401, "401013", "Oauth token is not valid")
    return known.client_id


def require_json_body(req: Request, problem: Any) -> Any:
    """Content-Type application/json and a parseable body, else the service's error."""
    if req.media_type != "application/json":
        raise problem(415, "Content-Type must be application/json")
    try:
        return req.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise problem(400, f"Request body is not valid JSON: {exc}") from exc


def submitted_by(client_id: str) -> str:
    return f"{client_id}@AdobeID"
