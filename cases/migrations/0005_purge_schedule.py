"""Daily purge of result files past their retention period, visible under Task queue."""

from django.db import migrations

PURGE_NAME = "Purge expired result files"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=PURGE_NAME,
        defaults={
            "func": "cases.services.purge_expired_results",
            "schedule_type": "D",  # daily
            "repeats": -1,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=PURGE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0004_api_clients_webhooks")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
