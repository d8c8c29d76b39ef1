"""`make demo`: migrate, load the demo cases, then run web server, worker and vendor sandbox.

Ctrl-C stops all three within seconds. The web server and the worker share the SQLite database
and are pointed at the sandbox on loopback through the same environment variables an operator
would set for the real vendors, so the connectors run unchanged.

Each child runs in its own process group, so the terminal's Ctrl-C reaches only this command,
which then stops every child once, at the same time (a second SIGINT makes django-q's cluster
hang in its own shutdown). Their output is relayed line by line; the banner with the admin URL
and logins is printed once every child is up and has gone quiet, so it is the last thing on
screen.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from cases import verification
from cases.audit import Actor
from cases.choices import CaseStatus
from cases.groups import ADMINISTRATOR, AUDITOR, OFFICER
from cases.models import Case
from connectors.sandbox import SandboxConfig

DEMO_PASSWORD = "privacy-desk-demo"  # noqa: S105 - printed for the demo on purpose
DEMO_USERS = {"officer": OFFICER, "auditor": AUDITOR, "admin": ADMINISTRATOR}
DEMO_ROLES = {
    "officer": "Compliance officer: works the cases",
    "auditor": "Auditor: reads cases and the audit trail",
    "admin": "Administrator: API clients and the task queue",
}
# The demo case waiting for the subject to confirm an email link (fixtures/demo_cases.json).
DEMO_LINK_CASE = "HELP-1013"
READY_TIMEOUT = 60.0  # seconds for every child to come up
SETTLE_TIME = 0.5  # seconds without a child line before the banner is printed
STOP_TIMEOUT = 5.0  # seconds for the children to stop before they are killed

_ENV_LINE = re.compile(r"^[A-Z][A-Z0-9_]*=")


@dataclass
class Child:
    """One process the demo runs, and how to tell that it is up."""

    name: str
    command: list[str]
    ready_url: str = ""  # up once this answers ...
    ready_line: str = ""  # ... or once a line containing this was printed
    chatter: Callable[[str], bool] = lambda line: False  # lines hidden unless -v 2
    process: subprocess.Popen | None = None
    ready: threading.Event = field(default_factory=threading.Event)


class Command(BaseCommand):
    help = "Set up the demo database and run web server + worker + vendor sandbox until Ctrl-C."

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
               setup_only: bool, verbosity: int, **options) -> None:
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
        self.verbose = verbosity >= 2
        self.lock = threading.Lock()
        self.stopping = False
        self.last_line_at = time.monotonic()
        self._run(demo_children(port, sandbox_port, sandbox_speed, verbosity), port,
                  {**sandbox_env(sandbox_port), "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL})

    def _run(self, children: list[Child], port: int, env: dict[str, str]) -> None:
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the demo as cleanly as Ctrl-C
        failed = None
        try:
            for child in children:
                self._start(child, env)
            failed = self._wait_until_ready(children)
            if failed is None:
                self._banner(port)
                failed = _first_exit(children)
        except KeyboardInterrupt:
            pass
        with self.lock:
            self.stopping = True  # the children's goodbyes are not shown
        if failed:
            self.stderr.write(
                f"The {failed.name} exited with code {failed.process.returncode}; "
                "stopping the demo."
            )
        else:
            self.stdout.write("\nStopping the demo...")
        stop_children(children)
        if failed:
            raise CommandError(f"The demo stopped because the {failed.name} exited.")
        self.stdout.write("Stopped.")

    def _start(self, child: Child, env: dict[str, str]) -> None:
        child.process = subprocess.Popen(  # noqa: S603
            child.command,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, errors="replace", bufsize=1,
            process_group=0,  # its own group: Ctrl-C reaches only the demo, which stops it
        )
        threading.Thread(target=self._relay, args=(child,), daemon=True).start()

    def _relay(self, child: Child) -> None:
        for line in child.process.stdout:
            if child.ready_line and child.ready_line in line:
                child.ready.set()
            with self.lock:
                self.last_line_at = time.monotonic()
                if self.stopping or (child.chatter(line) and not self.verbose):
                    continue
                self.stdout.write(line, ending="")
                self.stdout.flush()

    def _wait_until_ready(self, children: list[Child]) -> Child | None:
        """Wait for every child to be up; the first one that exited instead, if any."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            for child in children:
                if child.process.poll() is not None:
                    return child
                if not child.ready.is_set() and child.ready_url and _answers(child.ready_url):
                    child.ready.set()
            if all(child.ready.is_set() for child in children):
                break
            time.sleep(0.2)
        else:
            waiting = ", ".join(child.name for child in children if not child.ready.is_set())
            self.stderr.write(f"Still starting after {READY_TIMEOUT:.0f} s: {waiting}.")
        settle_until = time.monotonic() + 10 * SETTLE_TIME  # a chatty child does not delay it long
        while time.monotonic() - self.last_line_at < SETTLE_TIME < settle_until - time.monotonic():
            time.sleep(0.1)
        return None

    def _banner(self, port: int) -> None:
        logins = "".join(
            f"  {username:<7} / {DEMO_PASSWORD}   {role}\n" for username, role in DEMO_ROLES.items()
        )
        with self.lock:
            self.stdout.write(self.style.SUCCESS(
                f"\nPrivacy Desk is running: http://127.0.0.1:{port}/admin/\n"
                f"{logins}{self.link_banner}Press Ctrl-C to stop.\n"
            ))
            self.stdout.flush()


def demo_children(port: int, sandbox_port: int, sandbox_speed: str, verbosity: int) -> list[Child]:
    """The vendor sandbox, the web server and the worker, and how each says it is up."""
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    return [
        Child(
            "vendor sandbox",
            [*manage, "vendor_sandbox", "--port", str(sandbox_port), "--speed", sandbox_speed,
             "-v", str(verbosity)],
            ready_url=f"http://127.0.0.1:{sandbox_port}/_sandbox/health",
            chatter=lambda line: bool(_ENV_LINE.match(line)),  # the demo already set them
        ),
        Child(
            "web server",
            [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            ready_url=f"http://127.0.0.1:{port}/admin/login/",
        ),
        Child(
            "worker",
            [*manage, "qcluster"],
            ready_line="] running.",  # django-q: "Q Cluster <name> [<queue>] running."
            chatter=lambda line: " INFO django-q " in line,  # every task, every minute
        ),
    ]


def stop_children(children: list[Child], timeout: float = STOP_TIMEOUT) -> None:
    """SIGINT to every child's process group at once; SIGKILL what is left after `timeout`."""
    started = [child.process for child in children if child.process is not None]
    for process in started:
        _signal_group(process, signal.SIGINT)
    deadline = time.monotonic() + timeout
    try:
        for process in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(deadline - time.monotonic(), 0.01))
    except KeyboardInterrupt:
        pass  # a second Ctrl-C: no more waiting
    for process in started:
        # Also ends a child's own children (django-q's workers) if they outlived it.
        _signal_group(process, signal.SIGKILL)
        process.wait()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(process.pid, signum)


def _first_exit(children: list[Child]) -> Child:
    while True:
        for child in children:
            if child.process.poll() is not None:
                return child
        time.sleep(0.5)


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    try:
        opener.open(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False
    return True


def _interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt


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
