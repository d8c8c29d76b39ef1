"""A minimal OpenID Connect provider on loopback, for tests: the authorization code flow with
PKCE, ID tokens signed RS256 (PyJWT + cryptography), discovery, JWKS and userinfo.

It consents automatically: /authorize redirects straight back with a code for `next_claims`.
It checks what a real provider checks (client id and secret, redirect URI, PKCE verifier, one
use per code), so a client that gets the flow wrong fails here too.
"""

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.json_handler import JsonHandler

KEY_ID = "test-key-1"


@dataclass
class Grant:
    claims: dict
    nonce: str
    redirect_uri: str
    code_challenge: str


@dataclass
class Provider:
    client_id: str = "privacy-desk"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    next_claims: dict = field(default_factory=dict)
    # Test hooks: sign the ID token for another audience, or with another key.
    audience: str | None = None
    signing_key: rsa.RSAPrivateKey | None = None

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, dict] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "Provider":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- the endpoints' logic -------------------------------------------------------------

    def discovery(self) -> dict:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict:
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]}

    def authorize(self, query: dict[str, str]) -> tuple[int, str]:
        """Auto-consent: a redirect back to the client with a code (or an error)."""
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return 400, ""
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, ""
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(dict(self.next_claims), query.get("nonce", ""),
                                  query["redirect_uri"], query["code_challenge"])
        back = {"code": code, "state": query["state"]}
        return 302, f"{query['redirect_uri']}?{urlencode(back)}"

    def token(self, form: dict[str, str]) -> tuple[int, dict]:
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id, self.client_secret
        ):
            return 401, {"error": "invalid_client"}
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if form.get("redirect_uri") != grant.redirect_uri or challenge.decode() != (
            grant.code_challenge
        ):
            return 400, {"error": "invalid_grant"}
        access_token = secrets.token_urlsafe(24)
        self.tokens[access_token] = grant.claims
        return 200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 300,
                     "id_token": self._id_token(grant)}

    def _id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": grant.claims["sub"], "nonce": grant.nonce,
                  "aud": self.audience or self.client_id, "iat": now, "exp": now + 300}
        return jwt.encode(claims, self.signing_key or self.key, algorithm="RS256",
                          headers={"kid": KEY_ID})

    def userinfo(self, authorization: str) -> tuple[int, dict]:
        claims = self.tokens.get(authorization.removeprefix("Bearer "))
        return (200, claims) if claims else (401, {"error": "invalid_token"})


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                self._json(200, provider.discovery())
            elif url.path == "/jwks":
                self._json(200, provider.jwks())
            elif url.path == "/userinfo":
                self._json(*provider.userinfo(self.headers.get("Authorization", "")))
            elif url.path == "/authorize":
                status, location = provider.authorize(query)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path == "/token":
                self._json(*provider.token(form))
            else:
                self._json(404, {"error": "not_found"})

    return Handler
