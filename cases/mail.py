"""The development mail backend: every email is printed, like Django's console backend, and
also kept as an .eml file in EMAIL_FILE_PATH (var/outbox/), so the demo shows what the subject
would receive without any mail server. Used only when DEBUG is on and EMAIL_URL is unset."""

import sys
import uuid
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.utils import timezone


class OutboxBackend(ConsoleBackend):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("stream", sys.stdout)
        super().__init__(*args, **kwargs)
        self.outbox = Path(settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages) -> int:
        sent = super().send_messages(email_messages)
        self.outbox.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            name = f"{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
            (self.outbox / name).write_bytes(message.message().as_bytes())
        return sent
