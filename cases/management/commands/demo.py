"""`make demo`: migrate, load the demo cases, then run the web server and the worker together.

Ctrl-C stops them all. Each child gets the same environment, so they share the SQLite database.
"""

import os
import signal
import subprocess
import sys
import time

from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand

from cases.groups import AUDITOR, OFFICER

DEMO_PASSWORD = "privacy-desk-demo"  # noqa: S105 - printed for the demo on purpose
DEMO_USERS = {"officer": OFFICER, "auditor": AUDITOR}


class Command(BaseCommand):
    help = "Set up the demo database and run web server + worker until Ctrl-C."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--setup-only", action="store_true", help="Prepare data, run nothing.")

    def handle(self, *args, port: int, setup_only: bool, **options) -> None:
        if not 1 <= port <= 65535:
            self.stderr.write(f"--port must be between 1 and 65535, not {port}.")
            sys.exit(2)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("load_demo")
        for username, group in DEMO_USERS.items():
            _demo_user(username, group)
        if setup_only:
            return
        self._run([
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            [sys.executable, "manage.py", "qcluster"],
        ], port)

    def _run(self, commands: list[list[str]], port: int) -> None:
        children = [subprocess.Popen(command) for command in commands]  # noqa: S603
        time.sleep(1.5)
        self.stdout.write(self.style.SUCCESS(
            f"\nPrivacy Desk is running: http://127.0.0.1:{port}/admin/\n"
            f"  officer login: officer / {DEMO_PASSWORD}\n"
            f"  auditor login: auditor / {DEMO_PASSWORD}\n"
            "Press Ctrl-C to stop.\n"
        ))
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            self.stderr.write("A demo process stopped; stopping the others.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping...")
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()


def _demo_user(username: str, group_name: str) -> None:
    user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    user.is_staff = True
    user.set_password(DEMO_PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name=group_name))
