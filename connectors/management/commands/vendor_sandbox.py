"""``python manage.py vendor_sandbox --port PORT``: serve the vendor sandbox until stopped.

Prints the environment variables that point Privacy Desk at it (every other line starts with
``#``, so the output can be sourced). Loopback only unless ``--allow-non-loopback``.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from connectors.sandbox import SandboxConfig, SandboxServer

DEFAULT_PORT = 8900


def speed_arg(value: str) -> float | None:
    """Seconds per status step; ``0`` = instant; ``manual`` = only /_sandbox/advance."""
    if value.lower() == "manual":
        return None
    try:
        speed = float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("a number of seconds, 0, or 'manual'") from exc
    if speed < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return speed


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Serve the vendor sandbox (Adobe IMS, Privacy Service, Data Hygiene, ID5) on loopback."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        defaults = SandboxConfig()
        parser.add_argument("--port", type=int, default=DEFAULT_PORT)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--speed",
            type=speed_arg,
            default=5.0,
            help="seconds per status step (default 5); 0 = instant; 'manual'",
        )
        parser.add_argument("--client-id", default=defaults.client_id)
        parser.add_argument("--client-secret", default=defaults.client_secret)
        parser.add_argument("--org-id", default=defaults.org_id)
        parser.add_argument("--id5-partner", type=int, default=defaults.id5_partner_id)
        parser.add_argument("--id5-token", default=defaults.id5_token)
        parser.add_argument("--token-expires-in", type=int, default=defaults.token_expires_in)
        parser.add_argument(
            "--id5-partner-daily-limit", type=int, default=defaults.id5_partner_daily_limit
        )
        parser.add_argument(
            "--allow-non-loopback",
            action="store_true",
            help="serve on a non-loopback address (it is a test server without auth: careful)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host = options["host"]
        if not is_loopback(host) and not options["allow_non_loopback"]:
            raise CommandError(f"{host} is not a loopback address; add --allow-non-loopback")
        server = self._server(options)
        try:
            server.bind()
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{options['port']}: {exc}") from exc
        self._announce(server, options)
        if options["verbosity"] >= 2:
            self._log_requests()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.stop()
            self.stdout.write("# vendor sandbox stopped")

    def _server(self, options: dict[str, Any]) -> SandboxServer:
        return SandboxServer(
            port=options["port"],
            host=options["host"],
            speed=options["speed"],
            client_id=options["client_id"],
            client_secret=options["client_secret"],
            org_id=options["org_id"],
            id5_partner_id=options["id5_partner"],
            id5_token=options["id5_token"],
            token_expires_in=options["token_expires_in"],
            id5_partner_daily_limit=options["id5_partner_daily_limit"],
        )

    def _announce(self, server: SandboxServer, options: dict[str, Any]) -> None:
        speed = options["speed"]
        pace = "manual" if speed is None else ("instant" if speed == 0 else f"{speed:g}s/step")
        self.stdout.write(f"# vendor sandbox on {server.url} ({pace}); Ctrl-C to stop")
        self.stdout.write(f"# control API: {server.url}/_sandbox/requests, /_sandbox/faults ...")
        for name, value in server.env().items():
            self.stdout.write(f"{name}={value}")
        self.stdout.flush()

    def _log_requests(self) -> None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s sandbox %(message)s"))
        logger = logging.getLogger("connectors.sandbox")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
