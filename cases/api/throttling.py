"""A request rate per API client (API_THROTTLE_RATE); over it DRF answers 429 + Retry-After."""

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from cases.models import ApiClient


class ApiClientRateThrottle(SimpleRateThrottle):
    scope = "api_client"

    def get_rate(self) -> str:
        # Read at request time, not import time, so the setting can change without a restart
        # of the class (and tests can lower it).
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request: Request, view) -> str | None:
        if not isinstance(request.auth, ApiClient):
            return None  # the schema and docs are public and not throttled per client
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
