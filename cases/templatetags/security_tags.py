"""Template tags for the sign-in page."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def sso_enabled() -> bool:
    """Whether single sign-on is configured (the admin sign-in page then offers it)."""
    return bool(settings.SSO_ENABLED)
