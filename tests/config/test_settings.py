"""Production mode refuses weak secrets and passes Django's deployment checklist."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
STRONG_SECRET = "x7Rq2vLpN9sW4tYb8cKd3fGh6jMz1aQe5uIo0pXwVnBlTrEyUiOmAsDfGhJkZx"


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    dev_only = ("DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE", "FIELD_ENCRYPTION_KEYS")
    clean = {k: v for k, v in os.environ.items() if k not in dev_only}
    clean.update({"DEBUG": "false", "DATABASE_URL": "sqlite:///:memory:", **env})
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean,
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": STRONG_SECRET}, "FIELD_ENCRYPTION_KEYS must list"),
        (
            {"SECRET_KEY": STRONG_SECRET, "FIELD_ENCRYPTION_KEYS": "not-a-key"},
            "entry 1 is not a valid Fernet key",
        ),
    ],
)
def test_production_refuses_to_start_without_real_secrets(env, message):
    result = _manage("check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_passes_check_deploy():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        SECRET_KEY=STRONG_SECRET,
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="privacy-desk.example.com",
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_unknown_id5_access_requests_value_is_refused_at_startup():
    result = _manage("check", DEBUG="true", ID5_ACCESS_REQUESTS="sometimes")
    assert result.returncode != 0
    assert "ID5_ACCESS_REQUESTS must be 'manual' or 'not_applicable', not 'sometimes'" in (
        result.stderr
    )


@pytest.mark.parametrize("value", ["manual", "not_applicable", " Not_Applicable "])
def test_id5_access_requests_accepts_its_two_values(value):
    result = _manage("check", DEBUG="true", ID5_ACCESS_REQUESTS=value)
    assert result.returncode == 0, result.stderr


def test_a_django_log_record_is_printed_once_in_debug():
    # Django's default logging gives "django" its own DEBUG-only console handler, and the
    # record also propagates to the root handler: every 403 traceback came out twice.
    probe = "import logging; logging.getLogger('django.request').warning('probe-403')"
    result = _manage("shell", "-c", probe, DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("probe-403") == 1
