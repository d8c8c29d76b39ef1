"""Officer logins and failed logins go into the audit trail (issue: audit coverage)."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from cases.audit import Actor, record


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs) -> None:
    record("auth.login", actor=Actor.for_user(user))


@receiver(user_login_failed)
def audit_failed_login(sender, credentials, request=None, **kwargs) -> None:
    # The attempted username may be anyone's email address: keep it out of the trail.
    record("auth.login_failed", actor=Actor.system("login form"))
