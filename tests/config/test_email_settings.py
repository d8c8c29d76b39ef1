"""EMAIL_URL and friends, read the way an operator sets them, and the demo's outbox."""

import email
import os
import subprocess
import sys
from pathlib import Path

from django.core.mail import EmailMessage, get_connection

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "from django.conf import settings as s; "
    "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.EMAIL_HOST_USER, "
    "s.DEFAULT_FROM_EMAIL, s.PUBLIC_BASE_URL, s.AUTO_ACKNOWLEDGE, s.EMAIL_TIMEOUT)"
)
MAIL_VARS = ("EMAIL_URL", "DEFAULT_FROM_EMAIL", "PUBLIC_BASE_URL", "AUTO_ACKNOWLEDGE")


def _settings_with(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in MAIL_VARS}
    clean.update({"DEBUG": "true", "DATABASE_URL": "sqlite:///:memory:", **env})
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", SHOW], cwd=ROOT, env=clean,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].split()


def test_debug_without_email_url_prints_and_keeps_mail_in_the_outbox():
    backend, *_, sender, base, auto, timeout = _settings_with()

    assert backend == "cases.mail.OutboxBackend"
    assert (sender, base, auto, timeout) == (
        "privacy@localhost", "http://127.0.0.1:8000", "True", "30"
    )


def test_email_url_configures_django_smtp():
    values = _settings_with(
        EMAIL_URL="smtp+tls://mailer:s3cret@smtp.example.com:587",
        DEFAULT_FROM_EMAIL="privacy@example.com",
        PUBLIC_BASE_URL="https://desk.example.com/",
        AUTO_ACKNOWLEDGE="false",
    )

    assert values == [
        "django.core.mail.backends.smtp.EmailBackend", "smtp.example.com", "587", "True",
        "mailer", "privacy@example.com", "https://desk.example.com", "False", "30",
    ]


def test_outbox_backend_writes_each_email_as_an_eml_file(settings, tmp_path, capsys):
    settings.EMAIL_FILE_PATH = tmp_path / "outbox"

    connection = get_connection("cases.mail.OutboxBackend")
    sent = EmailMessage("Received DSAR-2026-000001", "Hello,\n", "privacy@localhost",
                        ["ada@example.org"], connection=connection).send()

    [path] = (tmp_path / "outbox").glob("*.eml")
    parsed = email.message_from_bytes(path.read_bytes())
    assert sent == 1 and parsed["To"] == "ada@example.org"
    assert parsed["Subject"] == "Received DSAR-2026-000001"
    assert "Received DSAR-2026-000001" in capsys.readouterr().out
