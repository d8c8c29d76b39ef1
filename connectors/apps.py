from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    """Vendor connectors and the vendor sandbox (no models)."""

    name = "connectors"
    verbose_name = "Vendor connectors"
    default_auto_field = "django.db.models.BigAutoField"
