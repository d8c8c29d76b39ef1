"""The case file: one ZIP about one case, for the regulator or the subject's file.

It holds a human-readable summary (summary.html, self-contained: no scripts, no external files;
with the officers' notes and the list of attachments),
the case's timeline from the audit trail (timeline.csv), its vendor jobs (vendor_jobs.csv), a
manifest of its result files with their SHA-256 (results_manifest.csv; the files themselves stay
behind their audited download), the sent response's manifest (response/MANIFEST.csv) and, for a
delete, the deletion confirmation (deletion_confirmation.html), the chain head it was cut at
(chain_head.txt), and SHA256SUMS over all of these. The summary names the subject, as the case
page does; the audit event that records the case file holds only ids and hashes.
"""

import csv
import datetime as dt
import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.template.loader import render_to_string
from django.utils import timezone

from cases.audit import Actor, ChainHead, record
from cases.choices import Action
from cases.exports import Echo, ExportFilter, neutralise, prepare_export
from cases.metrics import responded_at
from cases.models import (
    Attachment,
    AuditEvent,
    Case,
    DataSubject,
    Identity,
    Message,
    Note,
    OutOfBandNotice,
    ResponseDownload,
    ResponsePackage,
    ResultFile,
    VendorJob,
)

CASEFILE_ACTION = "casefile.exported"
# Events shown in the summary's "Decisions" list; the full timeline is in timeline.csv.
DECISION_ACTIONS = (
    "case.created",
    "case.identity_verified",
    "case.subject_told_out_of_band",
    "case.submitted",
    "case.submitted_unverified",
    "case.put_on_hold",
    "case.resumed",
    "case.deadline_extended",
    "case.rejected",
    "case.closed",
    "case.status_changed",
    "job.manual_done",
)
# Spooled in memory up to this size, then on disk: a case file with its timeline is small.
_SPOOL_BYTES = 8 * 1024 * 1024
JOB_COLUMNS = (
    "vendor", "action", "status", "vendor_status", "result_codes", "product_statuses",
    "products", "jurisdiction", "request_id", "vendor_job_id", "attempts", "last_error", "note",
    "result_status", "submitted_at", "completed_at", "last_synced_at",
)
RESULT_COLUMNS = (
    "name", "sha256", "size", "vendor", "action", "entry_count", "downloaded_at", "purge_after",
)


@dataclass(frozen=True)
class CaseFile:
    """A built case file: the ZIP (rewound, ready to send) and what the audit trail says of it."""

    file: IO[bytes]
    filename: str
    sha256: str
    size: int
    head: ChainHead


def _csv(columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(Echo())
    yield writer.writerow(columns)
    for row in rows:
        yield writer.writerow([neutralise(_cell(value)) for value in row])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list | dict):  # codes, products, per-product statuses: JSON, not repr
        return json.dumps(value, sort_keys=True)
    return str(value)


def _job_rows(case: Case) -> Iterator[list[Any]]:
    for job in VendorJob.objects.filter(case=case).order_by("vendor", "action"):
        yield [getattr(job, name) for name in JOB_COLUMNS]


def _result_rows(case: Case) -> Iterator[list[Any]]:
    results = ResultFile.objects.filter(case=case).select_related("job").order_by("downloaded_at")
    for result in results:
        job = result.job
        yield [
            result.name, result.sha256, result.size, job.vendor if job else "",
            job.action if job else "", len(result.entries), result.downloaded_at,
            result.purge_after,
        ]


def _chain_head_text(
    case: Case, head: ChainHead, events: int, generated_at: dt.datetime
) -> str:
    return (
        f"case {case.reference}\n"
        f"generated_at {generated_at.isoformat()}\n"
        f"timeline_events {events}\n"
        f"chain_head_seq {head.seq}\n"
        f"chain_head_hash {head.hash}\n"
        "\nCheck later with: python manage.py verify_audit "
        f"--expect-head {head.seq}:{head.hash}\n"
    )


def summary_context(
    case: Case, head: ChainHead, generated_at: dt.datetime, generated_by: str,
    *, contact_data: bool = True,
) -> dict[str, Any]:
    """What summary.html shows; also usable to preview the summary in a page. Without
    `contact_data` (a role that may not see it, cases.security) the subject's name and email are
    left out."""
    subject = DataSubject.objects.filter(case=case).first()
    # Types and namespaces only: identity values are never decrypted for the case file.
    identities = Identity.objects.filter(subject=subject).only("namespace", "type")
    answered = responded_at(case.status, case.closed_at, case.status_changed_at)
    answered_on = timezone.localdate(answered) if answered else None
    events = AuditEvent.objects.filter(case_id=case.pk, seq__lte=head.seq)
    return {
        "case": case,
        "rule": case.rule,
        "subject": subject,
        "contact_data": contact_data,
        "identities": list(identities.order_by("namespace")) if subject else [],
        "jobs": list(VendorJob.objects.filter(case=case).order_by("vendor", "action")),
        "results": list(ResultFile.objects.filter(case=case).select_related("job")),
        # The officer's words about the case belong in its file; attachments are listed (name,
        # size, SHA-256, who and when), their content stays behind the audited download.
        "notes": list(Note.objects.filter(case=case)),
        # What the subject was told and when: kind, status, times and the body's SHA-256 (the
        # text and address stay encrypted in the database), and notices given another way.
        "messages": list(
            Message.objects.filter(case=case).defer("recipient", "subject", "body")
            .order_by("queued_at", "pk")
        ),
        "notices": list(OutOfBandNotice.objects.filter(case=case).defer("note")),
        # The response: when it was sent, the package's hash, each download.
        "response_package": ResponsePackage.objects.filter(case=case).first(),
        "response_downloads": list(ResponseDownload.objects.filter(package__case=case)),
        "attachments": list(Attachment.objects.filter(case=case).select_related("job")),
        "decisions": list(events.filter(action__in=DECISION_ACTIONS).order_by("seq")),
        "event_count": events.count(),
        "responded_at": answered,
        "responded_late": bool(answered_on and answered_on > case.due_date),
        "days_to_respond": (
            (answered_on - timezone.localdate(case.received_at)).days if answered_on else None
        ),
        "head": head,
        "generated_at": generated_at,
        "generated_by": generated_by,
    }


class _Zip:
    """Adds text entries to a ZIP, remembering each entry's SHA-256 for SHA256SUMS."""

    def __init__(self, out: IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED)
        self.sums: dict[str, str] = {}

    def add(self, name: str, chunks: Iterable[str]) -> None:
        digest = hashlib.sha256()
        with self.zip.open(name, "w") as entry:
            for chunk in chunks:
                data = chunk.encode("utf-8")
                digest.update(data)
                entry.write(data)
        self.sums[name] = digest.hexdigest()

    def close(self) -> None:
        self.add("SHA256SUMS", [f"{digest}  {name}\n" for name, digest in self.sums.items()])
        self.zip.close()


def _file_digest(handle: IO[bytes]) -> tuple[str, int]:
    handle.seek(0)
    digest, size = hashlib.sha256(), 0
    for block in iter(lambda: handle.read(1024 * 1024), b""):
        digest.update(block)
        size += len(block)
    handle.seek(0)
    return digest.hexdigest(), size


def build_case_file(case: Case, *, actor: Actor, contact_data: bool = True) -> CaseFile:
    """Write the case file ZIP and audit it (with the ZIP's SHA-256, so copies can be matched)."""
    # Handed to the caller open (a FileResponse closes it once sent); closed here on failure.
    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
    try:
        return _build(case, out, actor=actor, contact_data=contact_data)
    except BaseException:
        out.close()
        raise


def _add_response(archive: _Zip, case: Case) -> None:
    """The sent package's manifest (response/MANIFEST.csv: path, size, SHA-256 of what the
    subject received) and, for a delete, the deletion confirmation as sent (or, before sending,
    as it reads now)."""
    from cases import report, responses

    package = ResponsePackage.objects.filter(case=case, sent_at__isnull=False).first()
    if package is not None:
        archive.add("response/MANIFEST.csv", [responses.manifest_csv(package)])
    if package is not None and package.deletion_confirmation:
        archive.add("deletion_confirmation.html", [package.deletion_confirmation])
    elif Action.DELETE in case.action_list:
        archive.add("deletion_confirmation.html", [report.render_deletion_confirmation(case)])


def _build(case: Case, out: IO[bytes], *, actor: Actor, contact_data: bool) -> CaseFile:
    case = Case.objects.select_related("api_client").get(pk=case.pk)  # never a stale copy
    generated_at = timezone.now()
    timeline = prepare_export("csv", ExportFilter.for_cases([case]))
    archive = _Zip(out)
    context = summary_context(
        case, timeline.head, generated_at, actor.label, contact_data=contact_data
    )
    archive.add("summary.html", [render_to_string("casefile/summary.html", context)])
    archive.add("timeline.csv", timeline.lines())
    archive.add("vendor_jobs.csv", _csv(JOB_COLUMNS, _job_rows(case)))
    archive.add("results_manifest.csv", _csv(RESULT_COLUMNS, _result_rows(case)))
    _add_response(archive, case)
    archive.add(
        "chain_head.txt", [_chain_head_text(case, timeline.head, timeline.count, generated_at)]
    )
    archive.close()
    sha256, size = _file_digest(out)
    record(
        CASEFILE_ACTION,
        actor=actor,
        case=case,
        obj=case,
        details={
            "sha256": sha256,
            "size": size,
            "timeline_events": timeline.count,
            "head_seq": timeline.head.seq,
            "head_hash": timeline.head.hash,
            "contact_data": contact_data,
        },
    )
    filename = f"case-file-{case.reference}-{generated_at:%Y%m%d-%H%M%S}.zip"
    return CaseFile(file=out, filename=filename, sha256=sha256, size=size, head=timeline.head)
