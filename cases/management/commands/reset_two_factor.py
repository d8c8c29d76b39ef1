"""Remove every second factor of one staff user (a lost phone and lost recovery codes)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cases import two_factor
from cases.audit import Actor


class Command(BaseCommand):
    help = (
        "Remove all of a user's 2FA devices (apps, security keys, recovery codes), audited. "
        "With REQUIRE_2FA they must enrol again at their next sign-in."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")

    def handle(self, *args, username: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        removed = two_factor.remove_all_devices(
            user, actor=Actor.system("manage.py reset_two_factor")
        )
        self.stdout.write(f"Removed {removed} device(s) of user {user.pk}.")
