"""Delete result files whose retention period has passed (they hold personal data)."""

from django.core.management.base import BaseCommand

from cases import services


class Command(BaseCommand):
    help = "Delete result files past their purge_after date; the case keeps their hash and listing."

    def handle(self, *args, **options) -> None:
        purged = services.purge_expired_results()
        self.stdout.write(f"Purged {purged} result file(s).")
