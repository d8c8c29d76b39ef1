"""The response to the subject: prepare the package, leave files out, send it through the portal,
revoke or re-issue the link, serve the downloads, purge it after retention.

The writers follow `cases.services`: `@transaction.atomic`, keyword-only `actor`, the change and
its audit event together, ids, hashes and codes only in the trail (never a file's name or an
officer's reason: both may name the subject). The package ZIP is built by streaming each entry
(`zipfile.open(name, "w")` and chunked copies), so a 1 GiB vendor result needs no 1 GiB of memory.
It is stored under MEDIA_ROOT with a random name and never served by URL: officers read it through
the audited preview, the subject through `/portal/response/<token>/`.
"""

import csv
import datetime as dt
import hashlib
import io
import logging
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from cases import messaging, notes, report, webhooks
from cases.audit import Actor, record
from cases.choices import (
    Action,
    CaseStatus,
    MessageKind,
    ResponseStatus,
    TokenPurpose,
    TokenState,
)
from cases.models import (
    Attachment,
    Case,
    PortalToken,
    ResponseDownload,
    ResponsePackage,
    ResultFile,
    TransitionError,
)

log = logging.getLogger(__name__)
SUBJECT = Actor.system("data subject (portal link)")
CHUNK = 1024 * 1024
# A package is prepared once the vendors have answered (or an officer has to act on an answer).
PREPARABLE = frozenset({CaseStatus.COMPLETED, CaseStatus.ACTION_REQUIRED})
MAX_REASON = 1000


@dataclass(frozen=True)
class Candidate:
    """A file that goes into the package unless an officer leaves it out."""

    source: str  # "result" or "attachment"
    id: int
    name: str
    size: int

    @property
    def key(self) -> str:
        return f"{self.source}:{self.id}"


def candidates(case: Case) -> list[Candidate]:
    """The vendors' files still stored, and the attachments marked for the response."""
    found = [
        Candidate("result", r.pk, r.name, r.size)
        for r in ResultFile.objects.filter(case=case).exclude(file="").order_by("pk")
    ]
    found += [
        Candidate("attachment", a.pk, a.name, a.size)
        for a in Attachment.objects.filter(case=case, include_in_response=True).order_by("pk")
    ]
    return found


def package_of(case: Case) -> ResponsePackage | None:
    return ResponsePackage.objects.filter(case=case).first()


def _excluded_keys(package: ResponsePackage | None) -> set[str]:
    return {f"{e['source']}:{e['id']}" for e in (package.exclusions if package else [])}


# --------------------------------------------------------------------------- building the ZIP


class _PackageZip:
    """Streams entries into a ZIP, recording path, size and SHA-256 of each for MANIFEST.csv."""

    def __init__(self, out: IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self.rows: list[dict[str, object]] = []

    def write_chunks(self, path: str, chunks: Iterator[bytes], source: str) -> None:
        digest, size = hashlib.sha256(), 0
        with self.zip.open(path, "w", force_zip64=True) as entry:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                entry.write(chunk)
        self.rows.append({"path": path, "size": size, "sha256": digest.hexdigest(),
                          "source": source})

    def write_text(self, path: str, text: str, source: str) -> None:
        self.write_chunks(path, iter([text.encode("utf-8")]), source)

    def close(self) -> None:
        lines = io.StringIO()
        writer = csv.writer(lines)
        writer.writerow(["path", "size", "sha256"])
        for row in self.rows:
            writer.writerow([row["path"], row["size"], row["sha256"]])
        with self.zip.open("MANIFEST.csv", "w") as entry:
            entry.write(lines.getvalue().encode("utf-8"))
        self.zip.close()


def _file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    yield from iter(lambda: handle.read(CHUNK), b"")


def _unique(path: str, used: set[str]) -> str:
    stem, dot, ext = path.rpartition(".")
    candidate, number = path, 1
    while candidate in used:
        number += 1
        candidate = f"{stem}-{number}.{ext}" if dot else f"{path}-{number}"
    used.add(candidate)
    return candidate


def _write_package(case: Case, out: IO[bytes], excluded: set[str]) -> tuple[list, str]:
    """Write the package into `out`; (manifest rows, deletion confirmation HTML or "")."""
    archive, used = _PackageZip(out), {"MANIFEST.csv", "report.html",
                                       "deletion_confirmation.html"}
    wanted = [c for c in candidates(case) if c.key not in excluded]
    results = ResultFile.objects.filter(
        pk__in=[c.id for c in wanted if c.source == "result"]).select_related("job")
    masker = report.masker_for(case)
    sections = []
    for result in results.order_by("pk"):
        path = _unique(f"vendor-files/{notes.clean_filename(result.name)}", used)
        sections.append(report.read_result(result, path, masker))
        with result.file.open("rb") as handle:
            archive.write_chunks(path, _file_chunks(handle), f"result:{result.pk}")
    attached = []
    for attachment in Attachment.objects.filter(
            pk__in=[c.id for c in wanted if c.source == "attachment"]).order_by("pk"):
        path = _unique(f"documents/{attachment.name}", used)
        archive.write_chunks(path, iter([notes.attachment_bytes(attachment)]),
                             f"attachment:{attachment.pk}")
        attached.append({"path": path})
    if Action.ACCESS in case.action_list:
        html = report.render_report(case, sections, excluded=len(excluded), attachments=attached)
        archive.write_text("report.html", html, "report")
    confirmation = ""
    if Action.DELETE in case.action_list:
        confirmation = report.render_deletion_confirmation(case)
        archive.write_text("deletion_confirmation.html", confirmation, "deletion_confirmation")
    archive.close()
    return archive.rows, confirmation


def _digest(handle: IO[bytes]) -> tuple[str, int]:
    handle.seek(0)
    digest, size = hashlib.sha256(), 0
    for chunk in _file_chunks(handle):
        digest.update(chunk)
        size += len(chunk)
    handle.seek(0)
    return digest.hexdigest(), size


def _build(case: Case, package: ResponsePackage) -> ResponsePackage:
    """(Re)write the package's ZIP and its manifest; the old file is removed."""
    with tempfile.TemporaryFile() as out:
        manifest, confirmation = _write_package(case, out, _excluded_keys(package))
        sha256, size = _digest(out)
        old = package.file.name if package.file else ""
        package.file.save("response.zip", File(out), save=False)
    if old:
        package.file.storage.delete(old)
    now = timezone.now()
    package.sha256, package.size, package.manifest = sha256, size, manifest
    package.deletion_confirmation = confirmation
    package.created_at = now
    package.purge_after = now + dt.timedelta(days=settings.RESULT_RETENTION_DAYS)
    package.save()
    return package


# --------------------------------------------------------------------------- officers' writers


def _lock(case: Case) -> Case:
    return Case.objects.select_for_update().get(pk=case.pk)


def _draft(case: Case) -> ResponsePackage:
    package = ResponsePackage.objects.select_for_update().filter(case=case).first()
    if package is None:
        raise TransitionError(f"{case.reference} has no response package yet: prepare it first.")
    if package.status != ResponseStatus.DRAFT:
        raise TransitionError(
            f"The response of {case.reference} was sent on {package.sent_at:%Y-%m-%d}: a sent "
            "package is frozen and cannot change."
        )
    return package


@transaction.atomic
def prepare(case: Case, *, actor: Actor) -> ResponsePackage:
    """Build (or rebuild) the draft package from what the vendors returned."""
    case = _lock(case)
    if case.status not in PREPARABLE:
        raise TransitionError(
            f"{case.reference} is {case.get_status_display().lower()}: a response is prepared "
            "once the vendors have answered (completed, or action required)."
        )
    package = ResponsePackage.objects.select_for_update().filter(case=case).first()
    if package is not None and package.status != ResponseStatus.DRAFT:
        raise TransitionError(
            f"The response of {case.reference} has been sent and is frozen; revoke or re-issue "
            "its link instead."
        )
    regenerated = package is not None
    package = _build(case, package or ResponsePackage(case=case))
    record("response.prepared", actor=actor, case=case, obj=package, details={
        "package_id": package.pk, "sha256": package.sha256, "size": package.size,
        "files": len(package.manifest), "regenerated": regenerated,
        "left_out": sorted(_excluded_keys(package)),
    })
    return package


@transaction.atomic
def leave_out(case: Case, *, actor: Actor, key: str, reason: str) -> ResponsePackage:
    """Leave a file (`result:<id>` or `attachment:<id>`) out of the draft, with a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the file is left out (kept on the case)."})
    if len(reason) > MAX_REASON:
        raise ValidationError({"reason": f"Keep the reason under {MAX_REASON} characters."})
    case = _lock(case)
    package = _draft(case)
    found = {c.key: c for c in candidates(case)}
    if key not in found or key in _excluded_keys(package):
        raise ValidationError({"file": "Choose a file that is in the package."})
    chosen = found[key]
    package.exclusions = [*package.exclusions, {
        "source": chosen.source, "id": chosen.id, "name": chosen.name, "reason": reason,
        "by": actor.label or actor.type, "at": timezone.now().isoformat(),
    }]
    record("response.file_left_out", actor=actor, case=case, obj=package, details={
        "package_id": package.pk, "source": chosen.source, "file_id": chosen.id,
    })
    return _build(case, package)


def response_link(token: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("portal:response", args=[token])


def _issue_link(case: Case, package: ResponsePackage, *, actor: Actor) -> tuple[PortalToken, int]:
    from cases import verification  # verification builds on services, which build on this

    if not settings.PUBLIC_BASE_URL:
        raise ValidationError(
            "PUBLIC_BASE_URL is not set: the response link needs the portal's public address."
        )
    row, token = verification.issue_token(case, TokenPurpose.RESPONSE, settings.RESPONSE_LINK_DAYS)
    message = messaging.queue_message(
        case, MessageKind.RESPONSE, actor=actor, extra={"link": response_link(token)}
    )
    PortalToken.objects.filter(pk=row.pk).update(message=message)
    return row, message.pk


@transaction.atomic
def send(case: Case, *, actor: Actor) -> ResponsePackage:
    """Freeze the draft (its SHA-256 is recorded) and email the subject the portal link."""
    case = _lock(case)
    package = _draft(case)
    if not package.file:
        raise TransitionError(f"The response of {case.reference} has no file: prepare it again.")
    package.status = ResponseStatus.SENT
    package.sent_at = timezone.now()
    package.sent_by = actor.label or actor.type
    package.max_downloads = settings.RESPONSE_MAX_DOWNLOADS
    package.save()
    row, message_id = _issue_link(case, package, actor=actor)
    record("response.sent", actor=actor, case=case, obj=package, details={
        "package_id": package.pk, "sha256": package.sha256, "size": package.size,
        "token_id": row.pk, "message_id": message_id, "expires_at": row.expires_at.isoformat(),
        "max_downloads": package.max_downloads,
    })
    webhooks.response_event(case, webhooks.RESPONSE_SENT,
                            response_state(Case.objects.get(pk=case.pk)))
    return package


def _revoke_live(case: Case, *, actor: Actor, reason: str) -> int:
    ids = list(PortalToken.objects.filter(
        case=case, purpose=TokenPurpose.RESPONSE, revoked_at__isnull=True,
    ).values_list("pk", flat=True))
    PortalToken.objects.filter(pk__in=ids).update(revoked_at=timezone.now())
    for token_id in ids:
        record("response.link_revoked", actor=actor, case=case, obj=None,
               details={"token_id": token_id, "reason": reason})
    return len(ids)


@transaction.atomic
def revoke(case: Case, *, actor: Actor) -> ResponsePackage:
    """Stop the response link working (e.g. sent to a wrong address)."""
    case = _lock(case)
    package = package_of(case)
    if package is None or package.status != ResponseStatus.SENT:
        raise TransitionError(f"{case.reference} has no response link that works.")
    _revoke_live(case, actor=actor, reason="officer")
    package.status, package.revoked_at = ResponseStatus.REVOKED, timezone.now()
    package.save(update_fields=["status", "revoked_at"])
    return package


@transaction.atomic
def reissue(case: Case, *, actor: Actor) -> ResponsePackage:
    """Send the subject a new link to the same frozen package; the old link stops working."""
    case = _lock(case)
    package = package_of(case)
    if package is None or package.status == ResponseStatus.DRAFT:
        raise TransitionError(f"The response of {case.reference} has not been sent yet.")
    if not package.file:
        raise TransitionError(
            f"The response package of {case.reference} was purged after the retention period: "
            "there is nothing left to send."
        )
    _revoke_live(case, actor=actor, reason="replaced")
    package.status, package.revoked_at = ResponseStatus.SENT, None
    package.max_downloads = settings.RESPONSE_MAX_DOWNLOADS
    package.save(update_fields=["status", "revoked_at", "max_downloads"])
    row, message_id = _issue_link(case, package, actor=actor)
    record("response.link_reissued", actor=actor, case=case, obj=package, details={
        "package_id": package.pk, "token_id": row.pk, "message_id": message_id,
        "expires_at": row.expires_at.isoformat(),
    })
    return package


def was_sent(case: Case) -> bool:
    return ResponsePackage.objects.filter(case=case, sent_at__isnull=False).exists()


# --------------------------------------------------------------------------- what it looks like


def with_response_state(cases: QuerySet[Case]) -> QuerySet[Case]:
    """`cases` with what `response_state` reads, in the same query (lists stay constant)."""
    newest = PortalToken.objects.filter(case=OuterRef("pk"), purpose=TokenPurpose.RESPONSE)
    counted = (ResponseDownload.objects.filter(package__case=OuterRef("pk")).order_by()
               .values("package__case").annotate(n=Count("pk")).values("n"))
    return cases.select_related("response_package").annotate(
        response_expires_at=Subquery(newest.order_by("-created_at", "-id")
                                     .values("expires_at")[:1]),
        response_downloads=Coalesce(Subquery(counted), 0),
    )


def response_state(case: Case) -> dict | None:
    """The API's `response`: sent_at, expires_at (of the newest link), downloads; None unsent."""
    try:
        package = case.response_package
    except ResponsePackage.DoesNotExist:
        return None
    if package.sent_at is None:
        return None
    if hasattr(case, "response_downloads"):
        expires_at, downloads = case.response_expires_at, case.response_downloads
    else:
        token = package.current_token()
        expires_at, downloads = (token.expires_at if token else None), package.downloads.count()
    return {"sent_at": package.sent_at, "expires_at": expires_at, "downloads": downloads}


def token_downloads(token: PortalToken) -> int:
    return ResponseDownload.objects.filter(token=token).count()


# --------------------------------------------------------------------------- the portal's side


@dataclass(frozen=True)
class Lookup:
    state: str
    token: PortalToken | None
    package: ResponsePackage | None = None


def find(token: str) -> Lookup:
    """A response link's state: exhausted counts as `used`, a purged package as `expired`."""
    from cases import verification

    found = verification.find(token, TokenPurpose.RESPONSE)
    row = found.token
    if row is None:
        return Lookup(found.state, None)
    package = package_of(row.case)
    state = found.state
    if package is None or package.sent_at is None:
        state = TokenState.REVOKED
    elif state == TokenState.VALID and not package.file:
        state = TokenState.EXPIRED
    elif state == TokenState.VALID and token_downloads(row) >= package.max_downloads:
        state = TokenState.USED
    return Lookup(state, row, package)


def _refused(lookup: Lookup) -> None:
    if lookup.token is not None:
        record("portal.link_refused", actor=SUBJECT, case=lookup.token.case, obj=lookup.token,
               details={"token_id": lookup.token.pk, "purpose": TokenPurpose.RESPONSE,
                        "state": lookup.state})


@transaction.atomic
def open_page(token: str) -> Lookup:
    """The subject (or a mail scanner) opened the link: audited, not a download."""
    lookup = find(token)
    if lookup.state == TokenState.VALID:
        record("portal.link_opened", actor=SUBJECT, case=lookup.token.case, obj=lookup.token,
               details={"token_id": lookup.token.pk, "purpose": TokenPurpose.RESPONSE})
    else:
        _refused(lookup)
    return lookup


@transaction.atomic
def claim_download(token: str) -> Lookup:
    """Count one download if the link still allows it (the token row is locked meanwhile)."""
    lookup = find(token)
    if lookup.token is not None:
        PortalToken.objects.select_for_update().get(pk=lookup.token.pk)
        lookup = find(token)  # re-read under the lock: two clicks cannot both take the last one
    if lookup.state != TokenState.VALID:
        _refused(lookup)
        return lookup
    package = lookup.package
    first = not package.downloads.exists()
    download = ResponseDownload.objects.create(package=package, token=lookup.token)
    used = token_downloads(lookup.token)
    record("response.downloaded", actor=SUBJECT, case=package.case, obj=package, details={
        "package_id": package.pk, "token_id": lookup.token.pk, "download_id": download.pk,
        "download": used, "max_downloads": package.max_downloads, "sha256": package.sha256,
    })
    if first:
        case = Case.objects.get(pk=package.case_id)
        webhooks.response_event(case, webhooks.RESPONSE_DOWNLOADED, response_state(case))
    return lookup


# --------------------------------------------------------------------------- retention


def purge_expired_packages() -> int:
    """Delete package files past `purge_after`; the row keeps the SHA-256 and the manifest."""
    purged = 0
    expired = ResponsePackage.objects.filter(purge_after__lte=timezone.now()).exclude(file="")
    for package in expired.select_related("case"):
        with transaction.atomic():
            package.file.delete(save=False)
            package.file = ""
            package.purged_at = timezone.now()
            package.save(update_fields=["file", "purged_at"])
            record("response.purged", actor=Actor.system("retention"), case=package.case,
                   obj=package, details={"package_id": package.pk, "sha256": package.sha256})
        purged += 1
    return purged


def manifest_csv(package: ResponsePackage) -> str:
    lines = io.StringIO()
    writer = csv.writer(lines)
    writer.writerow(["path", "size", "sha256"])
    for row in package.manifest:
        writer.writerow([row["path"], row["size"], row["sha256"]])
    return lines.getvalue()


def read_member(package: ResponsePackage, name: str) -> bytes | None:
    """One small document of the package (report.html for the officers' preview)."""
    if not package.file:
        return None
    with package.file.open("rb") as handle, zipfile.ZipFile(handle) as archive:
        try:
            return archive.read(name)
        except KeyError:
            return None
