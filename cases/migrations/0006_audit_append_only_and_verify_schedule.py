"""Audit rows become append-only in PostgreSQL itself, and the worker verifies the chain hourly.

The trigger refuses UPDATE and DELETE on cases_auditevent even for raw SQL; SQLite (trials only)
relies on the model and queryset guards. The schedule runs cases.audit.run_scheduled_verification,
whose outcome is recorded as an `audit.verified` event and shown on the admin home page.
TRUNCATE is not refused: Django's test flush uses it; revoke TRUNCATE from the application role
in production instead.
"""

from django.db import migrations

VERIFY_NAME = "Verify audit chain"

TRIGGER_SQL = (
    """
    CREATE OR REPLACE FUNCTION cases_auditevent_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING
            MESSAGE = 'cases_auditevent is append-only: ' || TG_OP || ' refused',
            ERRCODE = 'insufficient_privilege';
    END;
    $$
    """,
    "DROP TRIGGER IF EXISTS cases_auditevent_append_only ON cases_auditevent",
    """
    CREATE TRIGGER cases_auditevent_append_only
        BEFORE UPDATE OR DELETE ON cases_auditevent
        FOR EACH ROW EXECUTE FUNCTION cases_auditevent_append_only()
    """,
)
REVERSE_SQL = (
    "DROP TRIGGER IF EXISTS cases_auditevent_append_only ON cases_auditevent",
    "DROP FUNCTION IF EXISTS cases_auditevent_append_only()",
)


def _run(schema_editor, statements) -> None:
    # PostgreSQL only; each statement on its own so the dollar-quoted body is never split.
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in statements:
        schema_editor.execute(statement, params=None)


def install_trigger(apps, schema_editor):
    _run(schema_editor, TRIGGER_SQL)


def remove_trigger(apps, schema_editor):
    _run(schema_editor, REVERSE_SQL)


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=VERIFY_NAME,
        defaults={
            "func": "cases.audit.run_scheduled_verification",
            "schedule_type": "H",  # hourly
            "repeats": -1,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=VERIFY_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0005_purge_schedule"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.RunPython(install_trigger, remove_trigger),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
