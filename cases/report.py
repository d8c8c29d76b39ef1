"""The response package's documents: `report.html` (what each vendor and product holds about the
subject, as tables a person can read) and `deletion_confirmation.html` (what each vendor deleted,
when, with its confirmation ids).

Memory stays bounded whatever a vendor returned: the report shows at most REPORT_MAX_ROWS rows per
product ("first N of M rows shown; the full data is in the attached files") and parses only JSON
files up to REPORT_MAX_JSON_BYTES (a larger one is named and left to the attached original), and
the vendors' ZIPs are read entry by entry, never whole. Values that are the subject's own
identifiers are masked (namespace and last four characters), so an intercepted report does not
hand them out in full.
"""

import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from cases.choices import Action, JobStatus, Vendor
from cases.messaging import human_date, regulation_name
from cases.models import Case, DataSubject, Identity, ResultFile, VendorJob

REPORT_MAX_ROWS = 500
REPORT_MAX_JSON_BYTES = 5 * 1024 * 1024
SEPARATOR = " › "
MASK = "••••"
# What Adobe calls its products in productResponses and result folders, and what a person calls
# them (docs/vendors.md, Privacy Service products).
PRODUCT_NAMES: dict[str, str] = {
    "Analytics": "Adobe Analytics",
    "Profile": "Real-Time Customer Profile",
    "AdobeCloudPlatform": "Adobe Experience Platform data lake",
    "Identity": "Identity Service (identity graph)",
    "JourneyOptimizer": "Adobe Journey Optimizer",
    "Target": "Adobe Target",
    "AudienceManager": "Adobe Audience Manager",
    "Campaign": "Adobe Campaign",
    "AdCloud": "Adobe Advertising Cloud",
}
# Plain words for what happened to a delete, per normalised job status.
DELETE_OUTCOMES: dict[str, str] = {
    JobStatus.COMPLETE: "Deleted.",
    JobStatus.PARTIAL: "Partly deleted: some of the products asked did not confirm the deletion.",
    JobStatus.ERROR: "Not deleted: the deletion failed and our team is dealing with it.",
    JobStatus.CANCELLED: "Not deleted: the deletion was cancelled.",
    JobStatus.NOT_APPLICABLE: "Not asked: this company does not handle deletions under the law "
    "your request was made under, so there was nothing to delete there on that basis.",
    JobStatus.MANUAL: "Handled by our team by hand, outside the company's automated service.",
}


def product_name(folder: str) -> str:
    return PRODUCT_NAMES.get(folder, folder)


# --------------------------------------------------------------------------- masking and rows


class Masker:
    """Masks the subject's own identifier values wherever they appear as a whole value."""

    def __init__(self, values: Iterable[str]) -> None:
        self.values = {v.strip().casefold() for v in values if v and len(v.strip()) > 4}

    def __call__(self, text: str) -> str:
        if text.strip().casefold() in self.values:
            return mask(text.strip())
        return text


def mask(value: str) -> str:
    return f"{MASK}{value[-4:]}" if len(value) > 4 else MASK


def _scalar(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def flatten(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(field, value) rows of nested JSON: `address › city`, list items numbered from 1."""
    if isinstance(value, dict):
        if not value and path:
            yield SEPARATOR.join(path), "(empty)"
        for key, item in value.items():
            yield from flatten(item, (*path, str(key)))
    elif isinstance(value, list):
        if not value and path:
            yield SEPARATOR.join(path), "(empty)"
        for number, item in enumerate(value, 1):
            yield from flatten(item, (*path, str(number)))
    else:
        yield SEPARATOR.join(path) or "value", value


@dataclass
class FileSection:
    """One file of a product folder as the report shows it."""

    name: str
    size: int
    rows: list[tuple[str, str]] = field(default_factory=list)
    total_rows: int = 0
    note: str = ""


@dataclass
class ProductSection:
    folder: str
    files: list[FileSection] = field(default_factory=list)
    status: str = ""

    @property
    def name(self) -> str:
        return product_name(self.folder)

    @property
    def shown_rows(self) -> int:
        return sum(len(f.rows) for f in self.files)

    @property
    def total_rows(self) -> int:
        return sum(f.total_rows for f in self.files)

    @property
    def capped(self) -> bool:
        return self.shown_rows < self.total_rows

    @property
    def empty(self) -> bool:
        return not any(f.total_rows or f.note for f in self.files)


@dataclass
class ResultSection:
    """One vendor result file (a ZIP of product folders)."""

    result: ResultFile
    job: VendorJob | None
    package_path: str
    products: list[ProductSection] = field(default_factory=list)
    problem: str = ""


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, room: int,
                masker: Masker) -> FileSection:
    section = FileSection(name=info.filename.rsplit("/", 1)[-1], size=info.file_size)
    if not info.filename.lower().endswith(".json"):
        section.note = "Not a data table: the file is in the attached vendor files."
        return section
    if info.file_size > REPORT_MAX_JSON_BYTES:
        section.note = (f"This file is too large to show here ({info.file_size:,} bytes); the "
                        "full data is in the attached vendor files.")
        return section
    try:
        with archive.open(info) as handle:
            data = json.load(handle)
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError):
        section.note = "This file could not be read as data; it is in the attached vendor files."
        return section
    for name, value in flatten(data):
        section.total_rows += 1
        if len(section.rows) < room:
            section.rows.append((name, masker(_scalar(value))))
    return section


def read_result(result: ResultFile, package_path: str, masker: Masker) -> ResultSection:
    """The report's view of one vendor ZIP: per product folder, its files' rows (capped)."""
    section = ResultSection(result=result, job=result.job, package_path=package_path)
    products: dict[str, ProductSection] = {}
    try:
        with result.file.open("rb") as handle, zipfile.ZipFile(handle) as archive:
            for info in archive.infolist():
                folder, _, rest = info.filename.partition("/")
                product = products.setdefault(folder, ProductSection(folder=folder))
                if info.is_dir() or not rest:
                    continue
                room = max(REPORT_MAX_ROWS - product.shown_rows, 0)
                product.files.append(_read_entry(archive, info, room, masker))
    except (zipfile.BadZipFile, OSError, ValueError):
        section.problem = ("This file could not be opened as a ZIP archive here; it is attached "
                           "as we received it.")
    statuses = (result.job.product_statuses or {}) if result.job else {}
    for name, state in statuses.items():
        product = products.get(name)
        if product is None:
            product = products[name] = ProductSection(folder=name)
        product.status = (state or {}).get("status", "")
    section.products = sorted(products.values(), key=lambda p: p.name.lower())
    return section


# --------------------------------------------------------------------------- the documents


def identities_searched(case: Case) -> list[dict[str, str]]:
    subject = DataSubject.objects.filter(case=case).first()
    if subject is None:
        return []
    return [
        {"namespace": identity.namespace, "value": mask(identity.value)}
        for identity in Identity.objects.filter(subject=subject)
    ]


def masker_for(case: Case) -> Masker:
    subject = DataSubject.objects.filter(case=case).first()
    values = [i.value for i in Identity.objects.filter(subject=subject)] if subject else []
    return Masker([*values, subject.email if subject else ""])


def _searched(case: Case, action: str) -> list[VendorJob]:
    return list(VendorJob.objects.filter(case=case, action=action).order_by("vendor"))


def render_report(case: Case, sections: list[ResultSection], *, excluded: int,
                  attachments: list[dict[str, Any]]) -> str:
    """report.html: the summary of what was searched, where and when, then each result."""
    return render_to_string("responses/report.html", {
        "case": case,
        "regulation": regulation_name(case.regulation),
        "received": human_date(timezone.localdate(case.received_at)),
        "generated": human_date(timezone.localdate()),
        "identities": identities_searched(case),
        "jobs": _searched(case, Action.ACCESS),
        "sections": sections,
        "excluded": excluded,
        "attachments": attachments,
        "max_rows": REPORT_MAX_ROWS,
    })


def delete_rows(case: Case) -> list[dict[str, Any]]:
    rows = []
    for job in _searched(case, Action.DELETE):
        ids = [("Request id", job.request_id), (_id_label(job), job.vendor_job_id)]
        when = job.completed_at or job.submitted_at
        rows.append({
            "vendor": Vendor(job.vendor).label if job.vendor in Vendor.values else job.vendor,
            "outcome": DELETE_OUTCOMES.get(job.status, "Still in progress."),
            "status": job.status,
            "when": human_date(timezone.localdate(when)) if when else "—",
            "products": ", ".join(product_name(p) for p in job.products) if job.products else "",
            "ids": [(label, value) for label, value in ids if value],
        })
    return rows


def _id_label(job: VendorJob) -> str:
    if job.vendor == Vendor.ID5:
        return "ID5 request id"
    if job.vendor == Vendor.ADOBE_HYGIENE:
        return "Work order id"
    return "Adobe job id"


def render_deletion_confirmation(case: Case) -> str:
    """deletion_confirmation.html: each vendor, what was done, when, its confirmation ids."""
    return render_to_string("responses/deletion_confirmation.html", {
        "case": case,
        "regulation": regulation_name(case.regulation),
        "received": human_date(timezone.localdate(case.received_at)),
        "generated": human_date(timezone.localdate()),
        "rows": delete_rows(case),
    })
