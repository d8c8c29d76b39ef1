"""The two roles officers and auditors log in with, kept in step with the models after migrate."""

from django.contrib.auth.models import Group, Permission

OFFICER = "Compliance officer"
AUDITOR = "Auditor"

# Officers edit message templates and re-send failed messages (messages themselves are read-only
# in the admin: only services write them).
_CASE_MODELS = (
    "case", "datasubject", "identity", "vendorjob", "resultfile", "message", "messagetemplate",
    "note", "attachment",
)
_READ_ONLY_MODELS = ("auditevent", "apiclient", "webhookdelivery")


def _codenames(role: str) -> list[str]:
    views = [f"view_{model}" for model in _CASE_MODELS + _READ_ONLY_MODELS]
    if role == AUDITOR:
        return [*views, "export_audit"]
    writes = [f"{verb}_{model}" for model in _CASE_MODELS for verb in ("add", "change")]
    # Officers may remove a wrong identity before the case goes to vendors (the admin allows it
    # only then), and re-send a failed webhook delivery to the ticketing system.
    return [*views, *writes, "delete_identity", "change_webhookdelivery", "export_audit"]


def ensure_groups(**kwargs) -> None:
    """post_migrate receiver: create both groups and (re)set their permissions."""
    for role in (OFFICER, AUDITOR):
        group, _ = Group.objects.get_or_create(name=role)
        perms = Permission.objects.filter(
            content_type__app_label="cases", codename__in=_codenames(role)
        )
        group.permissions.set(perms)
