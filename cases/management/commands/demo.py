"""`make demo`: migrate, load the demo cases, then run web server, worker and vendor sandbox.

Ctrl-C stops all three. The web server and the worker share the SQLite database and are pointed
at the sandbox on loopback through the same environment variables an operator would set for the
real vendors, so the connectors run unchanged.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from cases import verification
from cases.audit import Actor
from cases.choices import CaseStatus
from cases.groups import AUDITOR, OFFICER
from cases.models import Case
from connectors.sandbox import SandboxConfig

DEMO_PASSWORD = "privacy-desk-demo"  # noqa: S105 - printed for the demo on purpose
DEMO_USERS = {"officer": OFFICER, "auditor": AUDITOR}
# The demo case waiting for the subject to confirm an email link (fixtures/demo_cases.json).
DEMO_LINK_CASE = "HELP-1013"


class Command(BaseCommand):
    help = "Set up the demo database and run web server + worker until Ctrl-C."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument(
            "--sandbox-port", type=int, default=int(os.environ.get("SANDBOX_PORT", 8900))
        )
        parser.add_argument(
            "--sandbox-speed", default=os.environ.get("SANDBOX_SPEED", "5"),
            help="seconds per vendor status step in the sandbox (default 5)",
        )
        parser.add_argument("--setup-only", action="store_true", help="Prepare data, run nothing.")

    def handle(self, *args, port: int, sandbox_port: int, sandbox_speed: str,
               setup_only: bool, **options) -> None:
        for name, value in (("--port", port), ("--sandbox-port", sandbox_port)):
            if not 1 <= value <= 65535:
                raise CommandError(f"{name} must be between 1 and 65535, not {value}.")
        if port == sandbox_port:
            raise CommandError("--port and --sandbox-port must differ.")
        if "PUBLIC_BASE_URL" not in os.environ:  # the portal links must reach this server
            settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{port}"
        call_command("migrate", interactive=False, verbosity=0)
        call_command("load_demo")
        for username, group in DEMO_USERS.items():
            _demo_user(username, group)
        self.link_banner = _demo_link_banner()
        if setup_only:
            self.stdout.write(self.link_banner)
            return
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        self._run([
            [*manage, "vendor_sandbox", "--port", str(sandbox_port), "--speed", sandbox_speed],
            [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            [*manage, "qcluster"],
        ], port, {**sandbox_env(sandbox_port), "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL})

    def _run(self, commands: list[list[str]], port: int, env: dict[str, str]) -> None:
        children = [
            subprocess.Popen(command, env={**os.environ, **env})  # noqa: S603
            for command in commands
        ]
        time.sleep(2)
        self.stdout.write(self.style.SUCCESS(
            f"\nPrivacy Desk is running: http://127.0.0.1:{port}/admin/\n"
            f"  officer login: officer / {DEMO_PASSWORD}\n"
            f"  auditor login: auditor / {DEMO_PASSWORD}\n"
            f"{self.link_banner}"
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


def sandbox_env(port: int) -> dict[str, str]:
    """The settings that point every connector at the sandbox, with its default credentials."""
    url = f"http://127.0.0.1:{port}"
    sandbox = SandboxConfig()
    return {
        "ADOBE_IMS_TOKEN_URL": f"{url}/adobe/ims/ims/token/v3",
        "ADOBE_PRIVACY_BASE_URL": f"{url}/adobe/privacy",
        "ADOBE_HYGIENE_BASE_URL": f"{url}/adobe/hygiene",
        "ID5_BASE_URL": f"{url}/id5",
        "ADOBE_CLIENT_ID": sandbox.client_id,
        "ADOBE_CLIENT_SECRET": sandbox.client_secret,
        "ADOBE_ORG_ID": sandbox.org_id,
        "ADOBE_SANDBOX_NAME": "prod",
        "ADOBE_HYGIENE_DATASET_ID": "64a1f00dd3ad5e1a2b3c4d5e",
        "ADOBE_DEFAULT_PRODUCTS": "analytics,profileService,aepDataLake",
        "ID5_PARTNER_ID": str(sandbox.id5_partner_id),
        "ID5_TOKEN": sandbox.id5_token,
        "RESULT_DOWNLOAD_HOSTS": f"127.0.0.1:{port}",
    }


def _demo_link_banner() -> str:
    """A fresh verification link for the demo case still waiting for one (the earlier link is
    revoked; the email also lands in var/outbox/), as banner lines; empty once confirmed."""
    case = Case.objects.filter(
        external_ref=DEMO_LINK_CASE, api_client=None, status=CaseStatus.NEW
    ).first()
    if case is None:
        return ""
    link = verification.send_link(case, actor=Actor.system("demo"))
    return (f"  {case.reference} waits for its subject: open {link}\n"
            "  (the verification link emailed to them) and press Confirm.\n")


def _demo_user(username: str, group_name: str) -> None:
    user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    user.is_staff = True
    user.set_password(DEMO_PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name=group_name))
