"""Notes and attachments: encrypted at rest, checked on the way in, audited by id only."""

import hashlib
import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection

from cases import notes, services
from cases.models import Attachment, AuditEvent, Note, TransitionError

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\nAda Lovelace passport scan\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def stored_files(media) -> list:
    return [path for path in media.rglob("*") if path.is_file()] if media.exists() else []


def test_note_text_is_encrypted_and_audited_by_id_only(make_case, system_actor):
    case = make_case()
    note = notes.add_note(case, actor=system_actor, text="  Ada called: she wants paper copies. ")
    assert Note.objects.get(pk=note.pk).text == "Ada called: she wants paper copies."
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM cases_note WHERE id = %s", [note.pk])
        raw = cursor.fetchone()[0]
    assert "paper copies" not in raw
    event = AuditEvent.objects.get(action="note.added")
    assert event.details == {"note_id": note.pk}
    assert (event.object_type, event.object_id) == ("Note", str(note.pk))


def test_an_empty_note_is_refused(make_case, system_actor):
    with pytest.raises(ValidationError, match="Write the note"):
        notes.add_note(make_case(), actor=system_actor, text="   ")
    assert not Note.objects.exists()


def test_attachment_is_encrypted_on_disk_with_a_random_name_and_the_plaintext_sha256(
    make_case, system_actor, media
):
    case = make_case()
    attachment = notes.add_attachment(
        case, actor=system_actor, upload=upload("ada-passport.pdf", PDF)
    )
    [path] = stored_files(media)
    on_disk = path.read_bytes()
    assert b"Ada Lovelace" not in on_disk and b"%PDF" not in on_disk
    assert "ada-passport" not in str(path) and "passport" not in str(path)
    assert attachment.sha256 == hashlib.sha256(PDF).hexdigest()
    assert attachment.size == len(PDF) and attachment.name == "ada-passport.pdf"
    assert notes.attachment_bytes(attachment) == PDF
    event = AuditEvent.objects.get(action="attachment.added")
    assert "passport" not in json.dumps(event.details)
    assert event.details["sha256"] == attachment.sha256 and event.details["type"] == "pdf"


def test_oversized_upload_is_refused_and_nothing_is_stored(
    make_case, system_actor, media, settings
):
    settings.ATTACHMENT_MAX_BYTES = 1000
    with pytest.raises(ValidationError, match="larger than the limit of 1000"):
        notes.add_attachment(make_case(), actor=system_actor,
                             upload=upload("big.pdf", b"%PDF-" + b"x" * 1000))
    assert stored_files(media) == [] and not Attachment.objects.exists()
    assert not AuditEvent.objects.filter(action="attachment.added").exists()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("setup.exe", EXE, ".exe files are not accepted"),
        ("invoice.pdf", EXE, "is a program"),
        ("photo.png", PDF, "does not contain what a .png file contains"),
        ("notes.txt", b"text\x00with a NUL", "does not contain what a .txt file contains"),
        ("../../etc/passwd", b"root:x:0:0", "a file without an extension is not accepted"),
        ("empty.pdf", b"", "is empty"),
    ],
)
def test_disallowed_upload_is_refused_and_nothing_is_stored(
    make_case, system_actor, media, name, data, message
):
    with pytest.raises(ValidationError, match=message):
        notes.add_attachment(make_case(), actor=system_actor, upload=upload(name, data))
    assert stored_files(media) == [] and not Attachment.objects.exists()


def test_allowed_types_come_from_the_setting(make_case, system_actor, settings):
    settings.ATTACHMENT_TYPES = ["png"]
    with pytest.raises(ValidationError, match="Allowed types: png"):
        notes.add_attachment(make_case(), actor=system_actor, upload=upload("a.pdf", PDF))
    assert notes.add_attachment(make_case(), actor=system_actor, upload=upload("a.png", PNG))


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\evil.pdf", "evil.pdf"),
        ("C:\\Users\\ada\\scan.pdf", "scan.pdf"),
        ("réponse du fournisseur.pdf", "réponse du fournisseur.pdf"),
        ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # NFC
        ("bad\r\nname\x00.txt", "badname.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # the right-to-left override is dropped
        ('say "hi"; rm.csv', "say _hi__ rm.csv"),
        ("...", "attachment"),
        (".hidden.txt", "hidden.txt"),
    ],
)
def test_filenames_are_sanitised(raw, clean):
    assert notes.clean_filename(raw) == clean


def test_very_long_filenames_are_capped_with_their_extension_kept():
    name = notes.clean_filename("a" * 500 + ".pdf")
    assert len(name) == notes.MAX_NAME_LENGTH and name.endswith(".pdf")
    unicode_name = notes.clean_filename("ü" * 300)
    assert len(unicode_name) == notes.MAX_NAME_LENGTH


def test_include_in_response_flag_is_audited(make_case, system_actor):
    attachment = notes.add_attachment(make_case(), actor=system_actor, upload=upload("a.pdf", PDF))
    notes.set_include_in_response(attachment, actor=system_actor, include=True)
    notes.set_include_in_response(attachment, actor=system_actor, include=True)  # no change
    attachment.refresh_from_db()
    assert attachment.include_in_response is True
    [event] = AuditEvent.objects.filter(action="attachment.response_flag_changed")
    assert event.details == {"attachment_id": attachment.pk, "include_in_response": True}


def test_an_ended_case_takes_no_notes_or_files(make_case, system_actor, media):
    case = services.reject(make_case(), actor=system_actor, reason="Not our customer.",
                           code="identity_not_verified")
    with pytest.raises(TransitionError, match="rejected"):
        notes.add_note(case, actor=system_actor, text="Too late")
    with pytest.raises(TransitionError, match="rejected"):
        notes.add_attachment(case, actor=system_actor, upload=upload("a.pdf", PDF))
    assert stored_files(media) == []


def test_a_tampered_file_is_not_served(make_case, system_actor):
    attachment = notes.add_attachment(make_case(), actor=system_actor, upload=upload("a.pdf", PDF))
    Attachment.objects.filter(pk=attachment.pk).update(sha256="0" * 64)
    attachment.refresh_from_db()
    with pytest.raises(ValueError, match="does not match"):
        notes.attachment_bytes(attachment)


def test_the_demo_loads_a_case_with_a_note_and_an_attachment(db, media):
    call_command("load_demo", stdout=StringIO())
    held = Note.objects.get().case
    attachment = Attachment.objects.get()
    assert attachment.case == held and held.external_ref == "HELP-1007"
    assert notes.attachment_bytes(attachment).startswith(b"We sent the identity form")
