import pytest
from cryptography.fernet import Fernet
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection

from cases import messaging, notes
from cases.audit import Actor
from cases.choices import MessageKind
from cases.crypto import DecryptionError, blind_index
from cases.models import Case, DataSubject, Identity, Message, Note


def _raw(table: str, column: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")  # noqa: S608 - fixed identifiers
        return [row[0] for row in cursor.fetchall()]


def test_personal_data_is_encrypted_at_rest(make_case):
    make_case(subject_name="Ada Lovelace", subject_email="ada.lovelace@example.org")
    stored = " ".join(_raw("cases_datasubject", "name") + _raw("cases_datasubject", "email"))
    stored += " ".join(_raw("cases_identity", "value"))
    assert "Ada" not in stored and "example.org" not in stored and "4436365767" not in stored
    subject = DataSubject.objects.get()
    assert subject.email == "ada.lovelace@example.org"
    assert subject.name == "Ada Lovelace"


def test_email_lookup_through_the_blind_index_is_exact(make_case):
    case = make_case(subject_email="ada.lovelace@example.org")
    assert list(Case.objects.with_subject_email(" Ada.Lovelace@EXAMPLE.org")) == [case]
    assert not Case.objects.with_subject_email("ada@example.org").exists()
    assert not Case.objects.with_subject_email("ada.lovelace").exists()


def test_rotation_re_encrypts_and_reindexes_under_the_new_key(make_case, settings):
    make_case(subject_email="ada.lovelace@example.org")
    old_ciphertext = _raw("cases_datasubject", "email")[0]
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    # During the rotation window, look-ups still match the old index.
    assert Case.objects.with_subject_email("ada.lovelace@example.org").exists()
    call_command("rotate_encryption_keys")

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert _raw("cases_datasubject", "email")[0] != old_ciphertext
    assert DataSubject.objects.get().email == "ada.lovelace@example.org"
    assert Identity.objects.first().value == "ada.lovelace@example.org"
    assert DataSubject.objects.get().email_index == blind_index("ada.lovelace@example.org")
    assert Case.objects.with_subject_email("ada.lovelace@example.org").exists()


def test_a_missing_key_is_a_clear_error(make_case, settings):
    make_case()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError, match="was a key removed"):
        DataSubject.objects.get()


def test_rotation_covers_notes_messages_and_attachment_files(make_case, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.AUTO_ACKNOWLEDGE = False
    case, actor = make_case(), Actor.system("tests")
    messaging.queue_message(case, MessageKind.ACKNOWLEDGEMENT, actor=actor)
    notes.add_note(case, actor=actor, text="Phoned the subject.")
    pdf = b"%PDF-1.7\nscan\n%%EOF\n"
    attachment = notes.add_attachment(case, actor=actor, upload=SimpleUploadedFile("a.pdf", pdf))
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_encryption_keys")

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert notes.attachment_bytes(attachment) == pdf
    assert Note.objects.get().text == "Phoned the subject."
    assert Message.objects.get().recipient == "ada.lovelace@example.org"
    assert [p.name for p in tmp_path.rglob("*.rotating")] == []


def test_rotation_also_re_encrypts_verification_evidence_notices_and_messages(
    make_case, settings
):
    from cases import services
    from cases.models import OutOfBandNotice

    settings.PUBLIC_BASE_URL = "http://testserver"
    officer = Actor("user", "7", "olivia")
    case = make_case()
    services.verify_identity(case, actor=officer, method="document", note="Passport checked")
    services.extend_deadline(case, actor=officer, reason="Complex")
    services.reject(case, actor=officer, reason="Withdrawn", told_out_of_band="Told by phone")
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("rotate_encryption_keys")

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert Case.objects.get(pk=case.pk).verification_note == "Passport checked"
    assert OutOfBandNotice.objects.get().note == "Told by phone"
    assert "Complex" in Message.objects.get().body
