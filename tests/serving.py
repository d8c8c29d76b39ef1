"""Helpers to run the production web server in tests: the README's environment with DEBUG off,
`collectstatic`, and gunicorn started from the project root (so it reads gunicorn.conf.py)."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
STRONG_SECRET = "x7Rq2vLpN9sW4tYb8cKd3fGh6jMz1aQe5uIo0pXwVnBlTrEyUiOmAsDfGhJkZx"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(folder: Path) -> dict[str, str]:
    """Production settings on a SQLite file in `folder`, with `collectstatic` already run."""
    keep = {k: v for k, v in os.environ.items()
            if k not in ("DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL",
                         "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env = {
        **keep,
        "DEBUG": "false",
        "SECRET_KEY": STRONG_SECRET,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "STATIC_ROOT": str(folder / "static"),
        "CACHE_URL": "locmemcache://",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
    }
    collected = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300,
    )
    assert collected.returncode == 0, collected.stderr
    return env


def _wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {process.stdout.read()}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer on {url}")


class Gunicorn:
    """A running `gunicorn config.wsgi`; `output` holds its log once it has stopped."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.output = ""
        self.process = subprocess.Popen(  # noqa: S603
            [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi",
             "--bind", self.url.removeprefix("http://")],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def stop(self) -> None:
        self.process.terminate()
        self.output = self.process.communicate(timeout=30)[0]


@contextmanager
def gunicorn(env: dict[str, str]) -> Iterator[Gunicorn]:
    server = Gunicorn(env)
    try:
        _wait_for(f"{server.url}/healthz", server.process)
        yield server
    finally:
        server.stop()
