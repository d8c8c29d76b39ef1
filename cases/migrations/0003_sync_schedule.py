"""The worker's status-sync schedule, visible (and adjustable) in the admin under Task queue."""

from django.db import migrations

SYNC_NAME = "Sync vendor jobs"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=SYNC_NAME,
        defaults={
            "func": "cases.tasks.sync_vendor_jobs",
            "schedule_type": "I",  # minutes
            "minutes": 1,
            "repeats": -1,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SYNC_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0002_vendorjob_result_status"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
