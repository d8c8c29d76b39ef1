"""Indexes matching the case lists' sort orders (issue 15)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0013_vendor_call_stats"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["due_date", "id"], name="case_due_order_idx"),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                fields=["regulation", "due_date", "id"], name="case_regulation_due_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["api_client", "id"], name="case_client_order_idx"),
        ),
    ]
