"""Shared fixtures: a few named users and a `make_case(**overrides)` helper."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from cases import services
from cases.audit import Actor

DEFAULT_IDENTITIES = [
    {"namespace": "email", "value": "ada.lovelace@example.org", "type": "standard"},
    {"namespace": "ecid", "value": "44363657679975868102109072127", "type": "standard"},
]


@pytest.fixture
def officer(db) -> User:
    user = User.objects.create_user("olivia", password="correct horse battery", is_staff=True)
    user.groups.add(Group.objects.get(name="Compliance officer"))
    return user


@pytest.fixture
def auditor(db) -> User:
    user = User.objects.create_user("arthur", password="correct horse battery", is_staff=True)
    user.groups.add(Group.objects.get(name="Auditor"))
    return user


@pytest.fixture
def system_actor() -> Actor:
    return Actor.system("tests")


@pytest.fixture
def make_case(db, system_actor):
    def make(**overrides):
        fields = {
            "regulation": "gdpr",
            "actions": ["access", "delete"],
            "subject_name": "Ada Lovelace",
            "subject_email": "ada.lovelace@example.org",
            "identities": DEFAULT_IDENTITIES,
            "received_at": timezone.now() - dt.timedelta(days=1),
        }
        fields.update(overrides)
        return services.create_case(actor=fields.pop("actor", system_actor), **fields)

    return make


@pytest.fixture
def vendor_sandbox(settings):
    """The vendor sandbox on a loopback port (instant mode), with the product pointed at it."""
    from django.core.cache import cache

    from connectors.sandbox import SandboxServer

    server = SandboxServer(port=0, speed=0).start()
    # The token cache is keyed by the token URL: a port an earlier test's sandbox had would
    # bring back a token this sandbox never issued (a 401, then a refetch, in the call counts).
    cache.clear()
    config = server.config
    host = server.url.split("://", 1)[1]
    settings.ADOBE_IMS_TOKEN_URL = f"{server.url}/adobe/ims/ims/token/v3"
    settings.ADOBE_PRIVACY_BASE_URL = f"{server.url}/adobe/privacy"
    settings.ADOBE_HYGIENE_BASE_URL = f"{server.url}/adobe/hygiene"
    settings.ID5_BASE_URL = f"{server.url}/id5"
    settings.ADOBE_CLIENT_ID = config.client_id
    settings.ADOBE_CLIENT_SECRET = config.client_secret
    settings.ADOBE_ORG_ID = config.org_id
    settings.ADOBE_SANDBOX_NAME = "prod"
    settings.ADOBE_HYGIENE_DATASET_ID = "6123456789abcdef01234567"
    settings.ADOBE_DEFAULT_PRODUCTS = ["analytics", "profileService"]
    settings.ID5_PARTNER_ID = str(config.id5_partner_id)
    settings.ID5_TOKEN = config.id5_token
    settings.RESULT_DOWNLOAD_HOSTS = [host]
    settings.RECONCILE_GRACE_SECONDS = 0
    yield server
    server.stop()


def submitted_with_jobs(case, actor, default="submitted", **statuses):
    """Test set-up: verify and submit `case` (vendors unconfigured, so nothing is sent), then
    move every job to `default`, or to `statuses["<vendor>_<action>"]` (e.g. id5_delete="error").
    Returns the case as the workflow left it."""
    from cases.choices import CaseStatus

    if case.status == CaseStatus.NEW:
        case = services.verify_identity(case, actor=actor, method="account_login")
    services.submit_case(case, actor=actor)
    for job in case.jobs.all():
        status = statuses.get(f"{job.vendor}_{job.action}", default)
        error = "refused by the vendor" if status in ("error", "partial", "cancelled") else ""
        services.update_job(job, status=status, last_error=error, next_attempt_at=None)
    case.refresh_from_db()
    return case


class SmtpSink:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives, or refuses it."""

    def __init__(self) -> None:
        self.envelopes: list = []
        self.refuse_rcpt: str = ""  # an SMTP reply, e.g. "550 5.1.1 <x@y>: no such user"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    """Django's SMTP backend pointed at a live aiosmtpd server on 127.0.0.1."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    sink.port = controller.port
    yield sink
    controller.stop()


# --------------------------------------------------------------------------- responses


def vendor_zip(products: dict[str, object]) -> bytes:
    """A result ZIP shaped like Adobe's: one folder per product, its JSON file inside; a product
    mapped to None gets an empty folder (it found no data)."""
    import io
    import json
    import zipfile

    files = {"Analytics": "data.json", "Profile": "profile.json",
             "AdobeCloudPlatform": "datalake.json", "Identity": "identities.json"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for product, content in products.items():
            archive.writestr(f"{product}/", b"")
            if content is not None:
                archive.writestr(f"{product}/{files.get(product, 'data.json')}",
                                 json.dumps(content, ensure_ascii=False, indent=2))
    return buffer.getvalue()


def real_shaped_products(job_id: str = "6fc09b53-c24f-4a6c-9ca2-c6076b0842b6") -> dict:
    """What Privacy Service returns per product (connectors/sandbox/zips.py), with a hostile
    value and unicode in it."""
    ids = [{"namespace": "email", "value": "ada.lovelace@example.org"},
           {"namespace": "ecid", "value": "44363657679975868102109072127"}]
    base = {"jobId": job_id, "userKey": "DSAR-2026-000001", "userIDs": ids}
    return {
        "Analytics": {**base, "product": "Analytics", "hits": [
            {"timestamp": "2026-11-13", "visitorId": "44363657679975868102109072127",
             "pageName": "<script>alert('x')</script>", "reportSuite": "shop.prod"},
            {"timestamp": "2026-11-14", "visitorId": "44363657679975868102109072127",
             "pageName": "Zoë’s café — 東京", "reportSuite": "shop.prod"},
        ]},
        "Profile": {**base, "product": "Profile",
                    "identityMap": {"email": [{"id": "ada.lovelace@example.org"}]},
                    "attributes": {"loyaltyTier": "gold",
                                   "address": {"city": "London", "postcode": "W1 1AA"}}},
        "AdobeCloudPlatform": {**base, "product": "AdobeCloudPlatform", "rows": [
            {"datasetId": "5dbb87aad37beb18a96feb61", "identity": "ada.lovelace@example.org",
             "timestamp": "2026-11-10"}]},
        "Identity": {**base, "product": "Identity", "graph": {"nodes": ids, "edges": 1}},
    }


@pytest.fixture
def ready_case(make_case, system_actor, settings, tmp_path):
    """An access + delete case routed to Adobe and ID5, every job done, Adobe's access result
    (real-shaped, four products and one without data) attached: ready for its response."""
    import hashlib

    from cases.choices import Action, Vendor

    settings.MEDIA_ROOT = tmp_path
    settings.PUBLIC_BASE_URL = "https://desk.example.org"
    case = make_case(vendors=["adobe_privacy", "id5"],
                     adobe_products=["analytics", "profileService", "aepDataLake", "identity"])
    case = submitted_with_jobs(case, system_actor, default="complete")
    ids = {(Vendor.ADOBE_PRIVACY, Action.DELETE): ("15700479082313109RX-900", "adobe-del-job-1"),
           (Vendor.ID5, Action.DELETE): ("", "a8b6ccc4ee35ddaf5a5bb0f5c696dbd3")}
    for job in case.jobs.all():
        request_id, job_id = ids.get((job.vendor, job.action), ("", ""))
        if job.vendor == Vendor.ADOBE_PRIVACY and job.action == Action.ACCESS:
            request_id, job_id = "15700479082313109RX-899", "6fc09b53-c24f-4a6c-9ca2-c6076b0842b6"
        services.update_job(job, request_id=request_id, vendor_job_id=job_id)
    access = case.jobs.get(vendor=Vendor.ADOBE_PRIVACY, action=Action.ACCESS)
    services.update_job(access, result_status="pending", product_statuses={
        name: {"status": "complete", "code": "PRVCY-6000-200"}
        for name in ("Analytics", "Profile", "AdobeCloudPlatform", "Identity", "JourneyOptimizer")
    })
    data = vendor_zip({**real_shaped_products(), "JourneyOptimizer": None})
    path = tmp_path / "upload.zip"
    path.write_bytes(data)
    services.attach_result(access, path, name="6fc09b53.zip", size=len(data),
                           sha256=hashlib.sha256(data).hexdigest(), entries=[])
    case.refresh_from_db()
    return case
