"""Result ZIPs of completed access jobs: one folder per product, product-flavoured JSON inside.

Products that errored get no folder; products that found no data get an empty folder (the
vendor says result files may be empty).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from .catalog import PRVCY_NOT_FOUND, Product
from .progress import iso_date, utc
from .state import PrivacyJob


def build_result_zip(job: PrivacyJob, products: list[tuple[Product, Any]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for product, result in products:
            if result is None or result[0].endswith("-400"):
                continue
            archive.writestr(_folder(product.name, job), b"")
            if result == PRVCY_NOT_FOUND:
                continue
            content = _content(job, product)
            archive.writestr(f"{product.name}/{product.filename}", json.dumps(content, indent=2))
    return buffer.getvalue()


def _folder(name: str, job: PrivacyJob) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(f"{name}/", date_time=utc(job.progress.modified).timetuple()[:6])
    info.external_attr = (0o40755 << 16) | 0x10  # a directory, for unzip tools
    return info


def _content(job: PrivacyJob, product: Product) -> dict[str, Any]:
    ids = [{"namespace": u["namespace"], "value": u["value"]} for u in job.user_ids]
    records = _RECORDS.get(product.code, _generic)(job, ids)
    return {
        "jobId": job.job_id,
        "product": product.name,
        "userKey": job.user_key,
        "userIDs": ids,
        **records,
    }


def _when(job: PrivacyJob) -> str:
    return iso_date(job.progress.created - 86400 * 7)


def _analytics(job: PrivacyJob, ids: list[dict]) -> dict[str, Any]:
    hits = [
        {
            "timestamp": _when(job),
            "visitorId": ids[0]["value"],
            "pageName": "home",
            "reportSuite": "sandbox.prod",
        }
    ]
    return {"hits": hits}


def _profile(job: PrivacyJob, ids: list[dict]) -> dict[str, Any]:
    identity_map = {}
    for uid in ids:
        identity_map.setdefault(uid["namespace"], []).append({"id": uid["value"]})
    return {
        "identityMap": identity_map,
        "attributes": {"loyaltyTier": "gold", "lastSeen": _when(job)},
    }


def _datalake(job: PrivacyJob, ids: list[dict]) -> dict[str, Any]:
    rows = [
        {"datasetId": "5dbb87aad37beb18a96feb61", "identity": u["value"], "timestamp": _when(job)}
        for u in ids
    ]
    return {"rows": rows}


def _identity(job: PrivacyJob, ids: list[dict]) -> dict[str, Any]:
    return {"graph": {"nodes": ids, "edges": max(0, len(ids) - 1)}}


def _generic(job: PrivacyJob, ids: list[dict]) -> dict[str, Any]:
    return {"records": [{"identity": u["value"], "seen": _when(job)} for u in ids]}


_RECORDS: dict[str, Callable[[PrivacyJob, list[dict]], dict[str, Any]]] = {
    "analytics": _analytics,
    "profileService": _profile,
    "aepDataLake": _datalake,
    "identity": _identity,
}
