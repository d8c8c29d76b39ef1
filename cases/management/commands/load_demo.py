"""Load the fictional demo cases from fixtures/demo_cases.json through the services."""

import datetime as dt
import json
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from cases import messaging, notes, services
from cases.audit import Actor
from cases.choices import MessageKind, VerificationMethod
from cases.models import Case

DEFAULT_FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "demo_cases.json"


class Command(BaseCommand):
    help = "Create the demo cases (fictional people) unless they already exist."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--file", type=Path, default=DEFAULT_FIXTURE)

    def handle(self, *args, file: Path, **options) -> None:
        try:
            entries = json.loads(file.read_text())["cases"]
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"Cannot read demo cases from {file}: {exc}") from None
        actor = Actor.system("demo loader")
        created = 0
        for entry in entries:
            if Case.objects.filter(external_ref=entry["external_ref"], api_client=None).exists():
                continue
            case = services.create_case(
                actor=actor,
                external_ref=entry["external_ref"],
                regulation=entry["regulation"],
                actions=entry["actions"],
                subject_name=entry["subject"]["name"],
                subject_email=entry["subject"]["email"],
                identities=entry["identities"],
                adobe_products=entry.get("adobe_products", []),
                received_at=timezone.now() - dt.timedelta(days=entry["received_days_ago"]),
            )
            for step in entry.get("steps", []):
                _apply(case, step, actor)
            created += 1
        self.stdout.write(f"Demo cases: {created} created, {len(entries) - created} already there.")


def _apply(case: Case, step: str | list[str], actor: Actor) -> None:
    name, *args = [step] if isinstance(step, str) else step
    if name == "acknowledge":  # sent by the worker, into var/outbox/ when EMAIL_URL is unset
        messaging.queue_message(case, MessageKind.ACKNOWLEDGEMENT, actor=actor)
    elif name == "verify":  # ["verify", method, note]; plain "verify": the account login
        method = args[0] if args else VerificationMethod.ACCOUNT_LOGIN
        services.verify_identity(case, actor=actor, method=method, note=args[1] if args else "")
    elif name == "email_link":  # `make demo` prints a fresh link to it (commands/demo.py)
        services.verify_identity(case, actor=actor, method=VerificationMethod.EMAIL_LINK)
    elif name == "hold":
        services.put_on_hold(case, actor=actor, reason=args[0])
    elif name == "extend":
        services.extend_deadline(case, actor=actor, reason=args[0])
    elif name == "reject":
        services.reject(case, actor=actor, reason=args[0], code=args[1])
    elif name == "note":
        notes.add_note(case, actor=actor, text=args[0])
    elif name == "attach":  # [name, text]: a small text file, encrypted like any attachment
        upload = SimpleUploadedFile(args[0], args[1].encode())
        notes.add_attachment(case, actor=actor, upload=upload)
    else:
        raise CommandError(f"Unknown demo step {name!r} for {case.external_ref}.")
