"""The officers' side of notes and attachments: the case page sections, the audited download and
the timeline lines. Writes go through `cases.notes`; adding is the case step "Add note or
attachment" (`cases.admin_steps`)."""

from collections.abc import Iterable
from io import BytesIO

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest
from django.template.defaultfilters import filesizeformat, truncatechars
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from cases import notes
from cases.admin_base import ReadOnlyInline
from cases.audit import Actor
from cases.models import Attachment, AuditEvent, Case, Note, VendorJob

NOTE_PREVIEW = 300
ATTACHMENT_EVENTS = (
    "attachment.added", "attachment.downloaded", "attachment.response_flag_changed",
)


def may_download(request: HttpRequest, case: Case) -> bool:
    """The result files' rule: whoever may work on the case (the Auditor role may not)."""
    from cases.admin import may_download_results  # cases.admin imports this module

    return may_download_results(request, case)


def download_url(attachment: Attachment) -> str:
    return reverse("admin:cases_case_attachment_download", args=[attachment.case_id, attachment.pk])


class NoteInline(ReadOnlyInline):
    """The case's notes; the "Add note or attachment" step adds them."""

    model = Note
    verbose_name_plural = "notes"
    fields = ["created_at", "author_label", "text"]


class AttachmentInline(admin.TabularInline):
    """The case's files. The one editable column, "include in the response", is saved with the
    case page through `notes.set_include_in_response` (audited), see `save_response_flags`."""

    model = Attachment
    verbose_name_plural = "attachments"
    fields = ["name", "size_text", "sha256", "job", "added_by_label", "added_at",
              "include_in_response", "download"]
    extra = 0
    can_delete = False
    classes = ["pd-readonly"]  # admin.css hides the per-row captions this table doesn't need

    def get_fields(self, request, obj=None):
        # No link a role cannot follow: without the permission the column is left out.
        if obj is not None and may_download(request, obj):
            return self.fields
        return [name for name in self.fields if name != "download"]

    def get_readonly_fields(self, request, obj=None):
        return [name for name in self.get_fields(request, obj) if name != "include_in_response"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("job", "case")

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # uploads go through the step, which checks size and type

    def has_change_permission(self, request, obj=None) -> bool:
        open_case = obj is not None and obj.is_open
        return open_case and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # attachments stay with the case (see README, retention)

    @admin.display(description="Size")
    def size_text(self, attachment: Attachment) -> str:
        return filesizeformat(attachment.size)

    @admin.display(description="Download")
    def download(self, attachment: Attachment) -> SafeString:
        return format_html('<a href="{}">Download</a>', download_url(attachment))


def save_response_flags(request: HttpRequest, formset) -> None:
    """Apply the ticked/unticked "include in the response" boxes, each through its service."""
    formset.save(commit=False)  # writes nothing; sets what the admin's change message reads
    actor = Actor.for_user(request.user)
    for attachment, changed in formset.changed_objects:
        if "include_in_response" in changed:
            notes.set_include_in_response(
                attachment, actor=actor, include=attachment.include_in_response
            )


def download_view(request: HttpRequest, case: Case | None, attachment_id: int) -> FileResponse:
    """Serve an attachment (personal data) to an officer; every download is audited."""
    if case is None:
        raise Http404("No such case.")
    if not may_download(request, case):
        raise PermissionDenied("Your role may not download attachments.")
    attachment = Attachment.objects.filter(case=case, pk=attachment_id).first()
    if attachment is None:
        raise Http404("No such attachment.")
    try:
        data = notes.attachment_bytes(attachment)
    except FileNotFoundError:
        raise Http404("The attachment is missing from storage.") from None
    notes.record_attachment_download(attachment, actor=Actor.for_user(request.user))
    # FileResponse builds Content-Disposition from the sanitised name (RFC 6266 / 5987 for
    # non-ASCII), and the type from its extension; nosniff comes from SecurityMiddleware.
    return FileResponse(BytesIO(data), as_attachment=True, filename=attachment.name)


def job_attachments(job: VendorJob, *, links: bool) -> SafeString | str:
    """The job page's line: the files attached when the manual task was done."""
    files = list(job.attachments.all())
    if not files:
        return "—"
    if not links:
        return ", ".join(f"{a.name} ({filesizeformat(a.size)})" for a in files)
    return format_html_join(
        ", ", '<a href="{}">{}</a> ({})',
        ((download_url(a), a.name, filesizeformat(a.size)) for a in files),
    )


def describe_timeline(events: Iterable[AuditEvent]) -> None:
    """Give note and attachment events a readable line for the case page (`event.pd_detail`):
    the audit trail holds only their ids, the case page may show the note and the file name."""
    events = list(events)
    note_ids = {e.object_id for e in events if e.action == "note.added"}
    file_ids = {e.object_id for e in events if e.action in ATTACHMENT_EVENTS}
    found_notes = {str(n.pk): n for n in Note.objects.filter(pk__in=_ints(note_ids))}
    files = {str(a.pk): a for a in Attachment.objects.filter(pk__in=_ints(file_ids))}
    for event in events:
        if event.action == "note.added" and event.object_id in found_notes:
            event.pd_detail = "Note: " + truncatechars(found_notes[event.object_id].text,
                                                      NOTE_PREVIEW)
        elif event.action in ATTACHMENT_EVENTS and event.object_id in files:
            event.pd_detail = _attachment_line(event, files[event.object_id])


def _attachment_line(event: AuditEvent, attachment: Attachment) -> str:
    line = f"{attachment.name} ({filesizeformat(attachment.size)})"
    if event.action == "attachment.response_flag_changed":
        included = (event.details or {}).get("include_in_response")
        return f"{line}: {'included in' if included else 'left out of'} the response"
    if event.action == "attachment.downloaded":
        return f"{line} downloaded"
    return f"{line}, SHA-256 {attachment.sha256[:12]}…"


def _ints(ids: Iterable[str]) -> list[int]:
    return [int(i) for i in ids if str(i).isdigit()]
