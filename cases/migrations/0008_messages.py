"""Messages to the data subject and the acknowledgement deadline.

Ships the English default templates (read from templates/messages/<kind>.txt, where officers'
edits in the admin then take over), the schedule that sends due messages and retries, and the
acknowledgement deadline of open CCPA-family cases.
"""

from pathlib import Path

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import cases.crypto

SEND_NAME = "Send due messages"
DEFAULTS_DIR = Path(__file__).resolve().parents[2] / "templates" / "messages"


def create_defaults(apps, schema_editor):
    """Ship the English default templates, and the schedule that retries messages."""
    Template = apps.get_model("cases", "MessageTemplate")
    for path in sorted(DEFAULTS_DIR.glob("*.txt")):
        first, _, body = path.read_text(encoding="utf-8").partition("\n")
        subject, body, kind = first.removeprefix("Subject:").strip(), body.strip() + "\n", path.stem
        Template.objects.get_or_create(kind=kind, defaults={"subject": subject, "body": body})
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SEND_NAME,
        defaults={
            "func": "cases.tasks.send_due_messages",
            "schedule_type": "I",  # minutes
            "minutes": 1,
            "repeats": -1,
        },
    )


def backfill_acknowledge_by(apps, schema_editor):
    """Open cases of laws with an acknowledgement deadline get theirs."""
    from django.utils import timezone

    from cases.deadlines import ACKNOWLEDGEMENT_RULES, acknowledge_by

    codes = [code for rule in ACKNOWLEDGEMENT_RULES for code in rule.regulations]
    Case = apps.get_model("cases", "Case")
    for case in Case.objects.filter(regulation__in=codes).exclude(status__in=["closed", "rejected"]):
        case.acknowledge_by = acknowledge_by(case.regulation, timezone.localdate(case.received_at))
        case.save(update_fields=["acknowledge_by"])


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SEND_NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0007_wording'),
        ('django_q', '0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more'),
    ]

    operations = [
        migrations.CreateModel(
            name='MessageTemplate',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('acknowledgement', 'Acknowledgement'), ('verification_request', 'Verification request'), ('extension_notice', 'Extension notice'), ('rejection', 'Rejection'), ('response', 'Response')], max_length=30, unique=True)),
                ('subject', models.CharField(max_length=200, verbose_name='subject line')),
                ('body', models.TextField()),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ['kind'],
            },
        ),
        migrations.AddField(
            model_name='case',
            name='acknowledge_by',
            field=models.DateField(blank=True, help_text="The law's deadline to acknowledge receipt, if it has one.", null=True),
        ),
        migrations.AddField(
            model_name='case',
            name='acknowledged_at',
            field=models.DateTimeField(blank=True, help_text='When the acknowledgement went out to the subject.', null=True),
        ),
        migrations.CreateModel(
            name='Message',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('acknowledgement', 'Acknowledgement'), ('verification_request', 'Verification request'), ('extension_notice', 'Extension notice'), ('rejection', 'Rejection'), ('response', 'Response')], max_length=30)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('sent', 'Sent'), ('failed', 'Failed')], db_index=True, default='queued', max_length=10)),
                ('recipient', cases.crypto.EncryptedTextField()),
                ('subject', cases.crypto.EncryptedTextField()),
                ('body', cases.crypto.EncryptedTextField()),
                ('body_sha256', models.CharField(max_length=64, verbose_name='body SHA-256')),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('last_error', models.TextField(blank=True, help_text="The mail server's reason, if any.")),
                ('next_attempt_at', models.DateTimeField(blank=True, db_index=True, null=True)),
                ('claimed_at', models.DateTimeField(blank=True, help_text='When a worker took the message to send it.', null=True)),
                ('queued_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('case', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='messages', to='cases.case')),
            ],
            options={
                'ordering': ['queued_at', 'id'],
            },
        ),
        migrations.RunPython(create_defaults, remove_schedule),
        migrations.RunPython(backfill_acknowledge_by, migrations.RunPython.noop),
    ]
