"""`Authorization: Api-Key <key>`: the only way into the API.

A missing header, a wrong key, and a revoked or suspended client all answer 401 with a
`WWW-Authenticate` header; the message does not say which, so keys cannot be probed. An
address that sent API_KEY_FAILURES_PER_MINUTE wrong keys this minute gets 429 with `Retry-After`
for every key until the minute is over, so keys cannot be guessed at speed either.
"""

from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.request import Request

from cases import security
from cases.models import ApiClient

KEYWORD = "Api-Key"


@dataclass(frozen=True)
class ApiClientUser:
    """Stands in for `request.user`: authenticated, but never a Django user or staff."""

    client: ApiClient
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def pk(self) -> None:
        return None

    def __str__(self) -> str:
        return f"API client {self.client.name}"


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiClientUser, ApiClient] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None  # no key at all: DRF answers 401 through `authenticate_header`
        retry_after = security.api_key_retry_after(request)
        if retry_after is not None:
            raise Throttled(
                retry_after, detail="Too many wrong API keys from this address; try again later."
            )
        if len(parts) != 2:
            raise AuthenticationFailed(f"Send the key as `Authorization: {KEYWORD} <key>`.")
        try:
            client = ApiClient.objects.for_key(parts[1].decode("ascii"))
        except UnicodeDecodeError:
            client = None
        if client is None:
            security.note_api_key_failure(request)
            raise AuthenticationFailed("Invalid, revoked or suspended API key.")
        return ApiClientUser(client), client

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="privacy-desk"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Tells drf-spectacular how the key travels, so the docs' Authorize button works."""

    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                f"`Authorization: {KEYWORD} <key>`. Create a client and its key with "
                "`python manage.py create_api_client NAME --scopes cases:read cases:write "
                "results:read`. A missing, wrong or revoked key answers 401; a key without the "
                "scope an operation names answers 403."
            ),
        }
