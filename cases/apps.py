from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Data subject requests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cases import signals  # noqa: F401  (login auditing)
        from cases.groups import ensure_groups

        post_migrate.connect(ensure_groups, sender=self)
