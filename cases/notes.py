"""Officers' notes and attachments on a case.

The writers follow `cases.services`: `@transaction.atomic`, a keyword-only `actor`, the change
and its audit event together, ids and codes only in the trail (never a note's text or a file's
name: both may name the subject). A note's text is an encrypted field; an attachment's bytes are
stored as one Fernet token under MEDIA_ROOT with a random name, after the upload passed the size
limit (`ATTACHMENT_MAX_BYTES`) and the type allow-list (`ATTACHMENT_TYPES`, checked by extension
and, for the types that have one, by their content's signature). A refused upload writes nothing.
"""

import hashlib
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat

from cases.audit import Actor, record
from cases.choices import CASE_TERMINAL, ActorType
from cases.crypto import decrypt_bytes, encrypt_bytes
from cases.models import Attachment, Case, Note, TransitionError, VendorJob

MAX_NAME_LENGTH = 120
# Characters that mean something to a shell, a path or a Content-Disposition header.
_UNSAFE = set('/\\:*?"<>|;')
# What a file of each type starts with; a type not listed here is checked by extension only.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),
    "docx": (b"PK\x03\x04",),
}
TEXT_TYPES = frozenset({"txt", "csv", "eml"})
# Programs are refused whatever their name says (Windows PE, ELF, Mach-O).
EXECUTABLE_SIGNATURES = (
    b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
)


# --------------------------------------------------------------------------- filenames and types


def clean_filename(raw: str) -> str:
    """The name to show and to offer on download: no directories, no control or invisible
    characters (such as a right-to-left override hiding '.exe'), no characters a path or header
    treats specially, at most MAX_NAME_LENGTH characters with the extension kept."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        "_" if ch in _UNSAFE else ch
        for ch in name
        if unicodedata.category(ch)[0] != "C" and unicodedata.category(ch) not in ("Zl", "Zp")
    )
    name = " ".join(name.split()).strip(" .")
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and 0 < len(ext) <= 10:
            name = f"{stem[: MAX_NAME_LENGTH - len(ext) - 1].rstrip(' .')}.{ext}"
        else:
            name = name[:MAX_NAME_LENGTH].rstrip(" .")
    return name or "attachment"


def extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def _refuse(message: str) -> ValidationError:
    return ValidationError({"attachment": message})


def _check_type(name: str, data: bytes) -> str:
    """The file's type (its extension) when allowed and its content agrees; else refused."""
    allowed = settings.ATTACHMENT_TYPES
    ext = extension(name)
    if not ext or ext not in allowed:
        what = f".{ext} files are" if ext else "a file without an extension is"
        raise _refuse(
            f"“{name}”: {what} not accepted. Allowed types: {', '.join(allowed)} "
            "(ATTACHMENT_TYPES)."
        )
    if data.startswith(EXECUTABLE_SIGNATURES) and ext not in TEXT_TYPES:
        raise _refuse(f"“{name}” is a program, not a .{ext} file, so it is refused.")
    looks_right = (
        b"\x00" not in data if ext in TEXT_TYPES
        else data.startswith(SIGNATURES[ext]) if ext in SIGNATURES
        else True
    )
    if not looks_right:
        raise _refuse(
            f"“{name}” does not contain what a .{ext} file contains, so it is refused "
            "(was it renamed?)."
        )
    return ext


def read_upload(upload: UploadedFile) -> tuple[str, bytes]:
    """The sanitised name and the bytes of an acceptable upload; ValidationError otherwise.

    Reads at most ATTACHMENT_MAX_BYTES + 1 bytes, so an oversized upload is never held whole.
    """
    name, limit = clean_filename(upload.name), settings.ATTACHMENT_MAX_BYTES
    too_big = _refuse(
        f"“{name}” is larger than the limit of {filesizeformat(limit)} (ATTACHMENT_MAX_BYTES)."
    )
    if upload.size is not None and upload.size > limit:
        raise too_big
    chunks, total = [], 0
    upload.seek(0)
    for chunk in upload.chunks():
        total += len(chunk)
        if total > limit:
            raise too_big
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        raise _refuse(f"“{name}” is empty.")
    _check_type(name, data)
    return name, data


# --------------------------------------------------------------------------- writers


def _open_case(case: Case, what: str) -> Case:
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status in CASE_TERMINAL:
        raise TransitionError(
            f"Case {case.reference} is {case.get_status_display().lower()}: {what} is no "
            "longer possible."
        )
    return case


def _user_id(actor: Actor) -> int | None:
    return int(actor.id) if actor.type == ActorType.USER and actor.id else None


@transaction.atomic
def add_note(case: Case, *, actor: Actor, text: str) -> Note:
    text = (text or "").strip()
    if not text:
        raise ValidationError({"note": "Write the note."})
    case = _open_case(case, "adding a note")
    note = Note.objects.create(
        case=case, text=text, author_id=_user_id(actor), author_label=actor.label
    )
    record("note.added", actor=actor, case=case, obj=note, details={"note_id": note.pk})
    return note


@transaction.atomic
def add_attachment(
    case: Case,
    *,
    actor: Actor,
    upload: UploadedFile,
    include_in_response: bool = False,
    job: VendorJob | None = None,
) -> Attachment:
    """Check, encrypt and store an upload on the case (and the manual task it answers)."""
    name, data = read_upload(upload)  # before anything is written
    case = _open_case(case, "attaching a file")
    if job is not None and job.case_id != case.pk:
        raise ValidationError({"job": f"That job does not belong to {case.reference}."})
    attachment = Attachment(
        case=case, job=job, name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        include_in_response=include_in_response, added_by_id=_user_id(actor),
        added_by_label=actor.label,
    )
    attachment.file.save("attachment", ContentFile(encrypt_bytes(data)), save=False)
    try:
        attachment.save()
        record("attachment.added", actor=actor, case=case, obj=attachment, details={
            "attachment_id": attachment.pk, "sha256": attachment.sha256, "size": attachment.size,
            "type": extension(name), "job_id": job.pk if job else None,
            "include_in_response": include_in_response,
        })
    except BaseException:
        attachment.file.delete(save=False)  # no orphan file for a row that was never written
        raise
    return attachment


@transaction.atomic
def add_note_or_attachment(
    case: Case,
    *,
    actor: Actor,
    text: str = "",
    upload: UploadedFile | None = None,
    include_in_response: bool = False,
) -> None:
    """The case page's "Add note or attachment": either or both, in one transaction."""
    if not (text or "").strip() and upload is None:
        raise ValidationError("Write a note, choose a file, or both.")
    if upload is not None:
        add_attachment(case, actor=actor, upload=upload, include_in_response=include_in_response)
    if (text or "").strip():
        add_note(case, actor=actor, text=text)


@transaction.atomic
def set_include_in_response(attachment: Attachment, *, actor: Actor, include: bool) -> Attachment:
    """Mark an attachment to go into (or stay out of) the subject's response package."""
    _open_case(attachment.case, "changing what goes into the response")
    attachment = Attachment.objects.select_for_update().get(pk=attachment.pk)
    if attachment.include_in_response == include:
        return attachment
    attachment.include_in_response = include
    attachment.save(update_fields=["include_in_response"])
    record("attachment.response_flag_changed", actor=actor, case=attachment.case, obj=attachment,
           details={"attachment_id": attachment.pk, "include_in_response": include})
    return attachment


def attachment_bytes(attachment: Attachment) -> bytes:
    """The decrypted file, checked against the SHA-256 recorded when it was added."""
    with attachment.file.open("rb") as handle:
        data = decrypt_bytes(handle.read())
    if hashlib.sha256(data).hexdigest() != attachment.sha256:
        raise ValueError(f"Attachment {attachment.pk} does not match its recorded SHA-256.")
    return data


def record_attachment_download(attachment: Attachment, *, actor: Actor) -> None:
    """Every download of an attachment (personal data) is audited."""
    record("attachment.downloaded", actor=actor, case=attachment.case, obj=attachment,
           details={"attachment_id": attachment.pk, "sha256": attachment.sha256,
                    "size": attachment.size})
