"""One status-sync pass inline, no worker needed: send, reconcile, sync, fetch results."""

from django.core.management.base import BaseCommand

from cases import tasks


class Command(BaseCommand):
    help = "Send due vendor jobs, reconcile interrupted sends, sync statuses and fetch results."

    def handle(self, *args, **options) -> None:
        report = tasks.sync_vendor_jobs(download_inline=True)
        self.stdout.write(f"Sync pass done: {report}.")
