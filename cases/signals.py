"""Officer logins, failed logins and lockouts go into the audit trail (issue: audit coverage)."""

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from cases.audit import Actor, record
from cases.security import start_session_clock, username_hash


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs) -> None:
    record("auth.login", actor=Actor.for_user(user))


@receiver(user_logged_in)
def start_session_limits(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        start_session_clock(request)


@receiver(user_login_failed)
def audit_failed_login(sender, credentials, request=None, **kwargs) -> None:
    # The attempted username may be anyone's email address: keep it out of the trail.
    record("auth.login_failed", actor=Actor.system("login form"))


@receiver(user_locked_out)
def audit_lockout(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    """django-axes locked a username + address pair out: the user's id (when the name is a
    user's) and a keyed hash of the name, never the name or the address."""
    user = get_user_model().objects.filter(username=username).only("pk").first()
    details = {"username_hash": username_hash(username), "user_id": user.pk if user else None}
    record("auth.locked_out", actor=Actor.system("sign-in lockout"), details=details)
