"""Scopes: each view action names the one scope it needs; a key without it gets 403."""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from cases.models import ApiClient


class HasActionScope(BasePermission):
    """Checks `view.required_scopes[view.action]`; an action missing there is refused."""

    message = "This API key lacks the scope this operation needs."

    def has_permission(self, request: Request, view) -> bool:
        client = request.auth
        if not isinstance(client, ApiClient):
            return False
        action = getattr(view, "action", None)
        if action in (None, "metadata"):
            return True  # a method the view does not offer: DRF answers 405
        scope = view.required_scopes.get(action)
        if scope is None:
            return False  # an action nobody gave a scope to stays closed
        if not client.has_scope(scope):
            self.message = f"This API key lacks the '{scope}' scope."
            return False
        return True
