"""A large vendor result goes into the response package in bounded memory: the ZIP is built by
streaming entries, and report.html does not parse a file over the size limit."""

import hashlib
import tracemalloc
import zipfile

from cases import report, responses, services
from cases.choices import Action, Vendor

SIZE = 100 * 1024 * 1024


def _large_result(path) -> None:
    """A ZIP whose Analytics file is ~100 MB of hits, stored (so the ZIP itself is that big)."""
    row = (b'{"timestamp": "2026-11-13", "pageName": "home", "reportSuite": "shop.prod", '
           b'"visitorId": "44363657679975868102109072127"},\n')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr("Profile/profile.json", b'{"attributes": {"loyaltyTier": "gold"}}')
        with archive.open("Analytics/data.json", "w", force_zip64=True) as entry:
            entry.write(b'{"hits": [\n')
            block = row * 8192
            for _ in range(SIZE // len(block)):
                entry.write(block)
            entry.write(row.rstrip(b",\n") + b"]}")


def test_a_100_mb_result_is_packaged_in_bounded_memory(ready_case, system_actor, tmp_path):
    job = ready_case.jobs.get(vendor=Vendor.ADOBE_PRIVACY, action=Action.ACCESS)
    ready_case.results.all().delete()
    services.update_job(job, result_status="pending")
    path = tmp_path / "large.zip"
    _large_result(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    services.attach_result(job, path, name="large.zip", size=path.stat().st_size,
                           sha256=digest.hexdigest(), entries=[])
    ready_case.refresh_from_db()
    assert path.stat().st_size > SIZE * 0.99

    tracemalloc.start()
    try:
        package = responses.prepare(ready_case, actor=system_actor)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    vendor_row = next(r for r in package.manifest if r["path"] == "vendor-files/large.zip")
    assert vendor_row["sha256"] == digest.hexdigest()
    with package.file.open("rb") as handle, zipfile.ZipFile(handle) as archive:
        html = archive.read("report.html").decode()
    assert "too large to show here" in html
    assert "loyaltyTier" in html  # the small product is still shown
    assert report.REPORT_MAX_JSON_BYTES < SIZE
