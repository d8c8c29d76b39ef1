"""The roles staff log in with, kept in step with the models after migrate.

Officers work cases, auditors read them, and administrators run the installation: API clients
and the task queue, without any access to cases or personal data.
"""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

OFFICER = "Compliance officer"
AUDITOR = "Auditor"
ADMINISTRATOR = "Administrator"

# Officers edit message templates and re-send failed messages (messages themselves are read-only
# in the admin: only services write them).
_CASE_MODELS = (
    "case", "datasubject", "identity", "vendorjob", "resultfile", "message", "messagetemplate",
    "note", "attachment",
)
_READ_ONLY_MODELS = ("auditevent", "apiclient", "webhookdelivery")

# Administrators: API clients (create, edit, revoke, new keys; never delete), the task queue
# (scheduled tasks, finished, failed and queued tasks; task arguments are ids only) and sign-in
# lockouts (django-axes: deleting a lockout unlocks that username and address).
_ADMINISTRATOR_PERMISSIONS = {
    "cases": ("add_apiclient", "change_apiclient", "view_apiclient"),
    "django_q": ("view_schedule", "change_schedule", "view_success", "view_failure", "view_ormq"),
    "axes": ("view_accessattempt", "delete_accessattempt", "view_accesslog"),
}


def _codenames(role: str) -> list[str]:
    views = [f"view_{model}" for model in _CASE_MODELS + _READ_ONLY_MODELS]
    if role == AUDITOR:
        return [*views, "export_audit"]
    writes = [f"{verb}_{model}" for model in _CASE_MODELS for verb in ("add", "change")]
    # Officers may remove a wrong identity before the case goes to vendors (the admin allows it
    # only then), and re-send a failed webhook delivery to the ticketing system.
    return [*views, *writes, "delete_identity", "change_webhookdelivery", "export_audit"]


def _administrator_permissions() -> Q:
    query = Q(pk__in=[])
    for app_label, codenames in _ADMINISTRATOR_PERMISSIONS.items():
        query |= Q(content_type__app_label=app_label, codename__in=codenames)
    return query


def ensure_groups(**kwargs) -> None:
    """post_migrate receiver: create the groups and (re)set their permissions."""
    for role in (OFFICER, AUDITOR):
        group, _ = Group.objects.get_or_create(name=role)
        perms = Permission.objects.filter(
            content_type__app_label="cases", codename__in=_codenames(role)
        )
        group.permissions.set(perms)
    group, _ = Group.objects.get_or_create(name=ADMINISTRATOR)
    group.permissions.set(Permission.objects.filter(_administrator_permissions()))
