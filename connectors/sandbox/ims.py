"""Adobe IMS: ``POST /ims/token/v3`` with the OAuth server-to-server client_credentials grant."""

from __future__ import annotations

import base64
import json
import secrets

from .http import HttpError, Reply, Request
from .state import SandboxState, Token


def _oauth_error(status: int, error: str, description: str) -> HttpError:
    return HttpError(Reply.json(status, {"error": error, "error_description": description}))


def issue_token(state: SandboxState, req: Request) -> Reply:
    params = _params(req)
    if params.get("grant_type") != "client_credentials":
        raise _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    if not params.get("client_id"):
        raise _oauth_error(400, "invalid_request", "missing client_id parameter")
    if params["client_id"] != state.config.client_id:
        raise _oauth_error(400, "invalid_client", "invalid client_id parameter")
    if params.get("client_secret") != state.config.client_secret:
        raise _oauth_error(401, "invalid_client", "invalid client_secret parameter")
    expires_in = state.config.token_expires_in
    token = _new_token(params["client_id"], params.get("scope", ""))
    state.tokens[token] = Token(params["client_id"], state.now() + expires_in)
    return Reply.json(
        200, {"access_token": token, "token_type": "bearer", "expires_in": expires_in}
    )


def _params(req: Request) -> dict[str, str]:
    """IMS reads the form body; parameters in the query string are accepted too."""
    if req.body and req.media_type != "application/x-www-form-urlencoded":
        raise _oauth_error(400, "invalid_request", "application/x-www-form-urlencoded required")
    return {**req.query, **(req.form() if req.body else {})}


def _new_token(client_id: str, scope: str) -> str:
    """A random JWT-looking token (IMS issues JWTs; nobody should parse them)."""

    def b64(data: dict[str, str]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    header = b64({"alg": "RS256", "typ": "JWT", "x5u": "sandbox.cer"})
    payload = b64({"client_id": client_id, "scope": scope, "id": secrets.token_hex(8)})
    return f"{header}.{payload}.{secrets.token_urlsafe(32)}"
