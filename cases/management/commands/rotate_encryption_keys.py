"""Re-encrypt personal data and rebuild blind indexes under the newest FIELD_ENCRYPTION_KEYS key.

Run after putting a new key first in FIELD_ENCRYPTION_KEYS; once it reports success the old keys
can be removed from the list. Safe to run again (and after an interruption): each batch is its own
transaction and rows already under the newest key are simply rewritten.
"""

import os
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction

from cases.audit import Actor, record
from cases.crypto import blind_index, rotate_bytes
from cases.models import Attachment, Case, DataSubject, Identity, Message, Note, OutOfBandNotice

BATCH = 500
# Other encrypted text that has no blind index: messages, notes, verification evidence, notices.
OTHER_ENCRYPTED = [
    (Message, ["recipient", "subject", "body"]),
    (Note, ["text"]),
    (Case, ["verification_note"]),
    (OutOfBandNotice, ["note"]),
]


class Command(BaseCommand):
    help = "Re-encrypt subject and identity data under the newest encryption key."

    def handle(self, *args, **options) -> None:
        subjects = self._rotate(DataSubject, ["name", "email", "email_index"], _subject_index)
        identities = self._rotate(Identity, ["value", "value_index"], _identity_index)
        others = {model._meta.model_name: self._rotate(model, fields, lambda row: None)
                  for model, fields in OTHER_ENCRYPTED}
        files = self._rotate_files()
        record(
            "crypto.keys_rotated",
            actor=Actor.system("rotate_encryption_keys"),
            details={"subject_count": subjects, "identity_count": identities,
                     "other_counts": others, "attachment_count": files},
        )
        self.stdout.write(
            f"Re-encrypted {subjects} subjects, {identities} identities, "
            + "".join(f"{count} {name} rows, " for name, count in others.items())
            + f"and {files} attachment files."
        )

    def _rotate_files(self) -> int:
        """Each attachment's stored token, rewritten under the newest key (written beside it,
        then renamed over it, so an interruption never leaves half a file)."""
        done = 0
        for attachment in Attachment.objects.exclude(file="").iterator():
            path = Path(attachment.file.path)
            rotated = rotate_bytes(path.read_bytes())
            partial = path.with_name(path.name + ".rotating")
            partial.write_bytes(rotated)
            os.replace(partial, path)
            done += 1
        return done

    def _rotate(self, model, fields: list[str], reindex) -> int:
        done, last_pk = 0, 0
        while True:
            with transaction.atomic():
                rows = list(model.objects.filter(pk__gt=last_pk).order_by("pk")[:BATCH])
                if not rows:
                    return done
                for row in rows:
                    reindex(row)
                # Saving decrypted values re-encrypts them with the newest key.
                model.objects.bulk_update(rows, fields)
            done += len(rows)
            last_pk = rows[-1].pk
            self.stdout.write(f"  {model._meta.verbose_name_plural}: {done}", ending="\r")


def _subject_index(subject: DataSubject) -> None:
    subject.email_index = blind_index(subject.email) if subject.email else ""


def _identity_index(identity: Identity) -> None:
    identity.value_index = blind_index(f"{identity.namespace}:{identity.value}")
