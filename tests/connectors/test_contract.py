"""Contract tests: every connector against the vendor sandbox over real HTTP on loopback.

No `responses` here: the connectors are built exactly as the workflow factory builds them
(connectors/README.md, "Building connectors from settings"), pointed at a `SandboxServer` on an
ephemeral port, and every fault kind the sandbox can inject is run through a POST and a GET.
The sandbox shares no code with the connectors, so a disagreement between them fails here.

Timing: the sandbox runs in instant mode (speed 0) unless a test walks statuses by hand
(speed None). Clients use a (2 s connect, 1 s read) timeout; a `timeout` fault waits 2 s and a
`slow` fault 0.5 s around it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from cases.choices import JobStatus
from connectors.adobe_hygiene import AdobeHygieneClient, NamespaceIds, WorkOrder
from connectors.adobe_ims import AdobeCredentials, AdobeTokenProvider, MemoryCache
from connectors.adobe_privacy import AdobePrivacyClient, PrivacyUser, UserID
from connectors.base import (
    AuthError,
    ConnectorError,
    InvalidInput,
    PermanentError,
    RateLimited,
    TransientError,
    make_session,
    next_utc_midnight,
)
from connectors.download import DownloadPolicy, ResultDownloader
from connectors.id5 import DeletionRequest, ID5Client, ID5Config, hash_email
from connectors.sandbox import SandboxServer

CLIENT_TIMEOUT = (2.0, 1.0)  # (connect, read) seconds on every client under test
SLOW_DELAY = 0.5  # a `slow` fault answers within the read timeout
TIMEOUT_DELAY = 2.0  # a `timeout` fault outlasts it
POST_RETRY_AFTER = 7  # under base.RETRY_AFTER_CAP: a GET would wait it out, a POST must not
SHORT_RETRY_AFTER = 1  # waited out inside a GET
LONG_RETRY_AFTER = 120  # over the cap: surfaces as RateLimited, even for a GET
SCOPES = "openid,AdobeID"
DATASET = "sandbox-dataset"
REGULATION = "gdpr"
WRONG_SECRET = "wrong-adobe-secret-5d1c9a"
WRONG_ID5_TOKEN = "wrong-id5-token-7f3e2b"
FAULT_KINDS = ("5xx", "429", "429_no_retry_after", "timeout", "slow", "drop", "drop_after",
               "malformed")
APPLIED_KINDS = frozenset({"slow", "drop_after", "malformed"})  # sandbox README, "Faults"
HEX64 = re.compile(r"[a-f0-9]{64}")

# --------------------------------------------------------------------------- building


@dataclass
class Vendors:
    """Every connector, built from plain values and pointed at one sandbox."""

    sandbox: SandboxServer
    tokens: AdobeTokenProvider
    privacy: AdobePrivacyClient
    hygiene: AdobeHygieneClient
    id5: ID5Client
    downloader: ResultDownloader

    def count(self, vendor: str, operation: str) -> int:
        return self.sandbox.count(vendor, operation)


def credentials(sandbox: SandboxServer, *, secret: str | None = None) -> AdobeCredentials:
    config = sandbox.config
    return AdobeCredentials(
        token_url=f"{sandbox.url}/adobe/ims/ims/token/v3", client_id=config.client_id,
        client_secret=secret or config.client_secret, org_id=config.org_id, scopes=SCOPES)


def token_provider(sandbox: SandboxServer, *, secret: str | None = None) -> AdobeTokenProvider:
    tokens = AdobeTokenProvider(credentials(sandbox, secret=secret), MemoryCache())
    tokens.timeout = CLIENT_TIMEOUT
    return tokens


def id5_client(sandbox: SandboxServer, *, token: str | None = None,
               session: requests.Session | None = None) -> ID5Client:
    config = ID5Config(partner_id=str(sandbox.config.id5_partner_id),
                       token=token or sandbox.config.id5_token, base_url=f"{sandbox.url}/id5")
    client = ID5Client(config, session=session)
    client.timeout = CLIENT_TIMEOUT
    return client


def connect(sandbox: SandboxServer, *, fast_retries: bool = False) -> Vendors:
    """The connectors for `sandbox`. `fast_retries`: the production retry policy without its
    backoff sleeps (0.5 s doubling), for faults that last every try."""

    def session() -> requests.Session | None:
        return make_session(backoff_factor=0) if fast_retries else None

    tokens = token_provider(sandbox)
    privacy = AdobePrivacyClient(tokens, base_url=f"{sandbox.url}/adobe/privacy",
                                 session=session())
    hygiene = AdobeHygieneClient(tokens, sandbox_name="prod",
                                 base_url=f"{sandbox.url}/adobe/hygiene", session=session())
    privacy.timeout = hygiene.timeout = CLIENT_TIMEOUT
    host = sandbox.url.removeprefix("http://")
    downloader = ResultDownloader(DownloadPolicy(allowed_hosts={host}, private_hosts={host}))
    return Vendors(sandbox, tokens, privacy, hygiene,
                   id5_client(sandbox, session=session()), downloader)


@pytest.fixture
def vendors(sandbox: SandboxServer) -> Vendors:
    return connect(sandbox)


def privacy_user(key: str, *actions: str, email: str = "ada@example.org") -> PrivacyUser:
    return PrivacyUser(key, actions or ("access",),
                       (UserID("email", email), UserID("ECID", "44363657679975868102")))


def create_one(v: Vendors, key: str, action: str = "access",
               include: tuple[str, ...] = ("analytics", "profileService")) -> str:
    created = v.privacy.create_jobs([privacy_user(key, action)], include=include,
                                    regulation=REGULATION)
    return created.jobs[0].job_id


def create_work_order(v: Vendors, display_name: str = "Contract test cleanup") -> WorkOrder:
    return v.hygiene.create_work_order(
        dataset_id=DATASET, identities=[NamespaceIds("email", ("ada@example.org",))],
        display_name=display_name, description="record delete from the contract tests")


def raised(call: Callable[[], object]) -> ConnectorError:
    with pytest.raises(ConnectorError) as info:
        call()
    return info.value


def assert_error(error: ConnectorError, cls: type[ConnectorError], **attrs: Any) -> None:
    assert type(error) is cls, repr(error)
    for name, value in attrs.items():
        assert getattr(error, name) == value, f"{name}: {error!r}"


def sandbox_log(sandbox: SandboxServer, vendor: str, operation: str) -> list[dict[str, Any]]:
    return sandbox.requests(vendor=vendor, operation=operation)


# --------------------------------------------------------------------------- Adobe IMS


def test_ims_token_is_fetched_once_and_cached_for_every_adobe_call(vendors):
    first = vendors.tokens.token()

    assert vendors.tokens.token() == first
    create_one(vendors, "DSAR-IMS-1")
    create_work_order(vendors)
    assert vendors.count("adobe_ims", "token") == 1
    form = sandbox_log(vendors.sandbox, "adobe_ims", "token")[0]["body"]
    assert form == {"grant_type": "client_credentials", "client_id": "sandbox-client",
                    "client_secret": "***", "scope": SCOPES}


def test_ims_wrong_secret_is_an_auth_error_naming_the_setting_not_the_secret(sandbox):
    tokens = token_provider(sandbox, secret=WRONG_SECRET)

    error = raised(tokens.token)

    assert_error(error, AuthError, status=401, code="invalid_client", retryable=False,
                 maybe_sent=False)
    assert "ADOBE_CLIENT_SECRET" in error.message
    assert WRONG_SECRET not in str(error) + repr(error)
    assert sandbox.count("adobe_ims", "token") == 1  # a 401 is not retried


def test_revoked_token_is_refetched_once_on_401_and_the_call_succeeds(vendors):
    job_id = create_one(vendors, "DSAR-REVOKED")
    assert vendors.sandbox.revoke_tokens() == 1

    job = vendors.privacy.get_job(job_id)

    assert job.job_id == job_id
    assert vendors.count("adobe_ims", "token") == 2
    statuses = [r["status"] for r in sandbox_log(vendors.sandbox, "adobe_privacy", "get_job")]
    assert statuses == [401, 200]


def test_a_token_adobe_keeps_refusing_is_refetched_only_once(make_sandbox):
    v = connect(make_sandbox(token_expires_in=0))  # every token is already expired

    error = raised(lambda: v.hygiene.get_work_order("DI-unknown"))

    assert_error(error, AuthError, status=401, code="401013", retryable=False)
    assert "ADOBE_CLIENT_ID" in error.message
    assert v.count("adobe_ims", "token") == 2
    assert v.count("adobe_hygiene", "get_workorder") == 2


@pytest.mark.parametrize("kind", ["5xx", "429_no_retry_after", "timeout", "drop", "drop_after"])
def test_ims_token_post_is_idempotent_so_it_is_retried(sandbox, kind):
    tokens = token_provider(sandbox)
    sandbox.add_fault(kind, vendor="adobe_ims", operation="token", delay=TIMEOUT_DELAY)

    assert tokens.token()
    assert sandbox.count("adobe_ims", "token") == 2


def test_ims_unreadable_token_answer_is_transient(sandbox):
    tokens = token_provider(sandbox)
    sandbox.add_fault("malformed", vendor="adobe_ims", operation="token")

    assert_error(raised(tokens.token), TransientError, code="malformed_response",
                 maybe_sent=True, retryable=True)


# --------------------------------------------------------------------------- Privacy Service


def test_create_jobs_makes_one_job_per_user_and_action(vendors):
    users = [privacy_user("DSAR-BOTH", "access", "delete"), privacy_user("DSAR-READ", "access")]

    created = vendors.privacy.create_jobs(users, include=["analytics"], regulation=REGULATION)

    assert re.fullmatch(r"\d+RX-\d{3}", created.request_id or ""), created.request_id
    assert created.total_records == 3
    assert sorted((job.key, job.action) for job in created.jobs) == [
        ("DSAR-BOTH", "access"), ("DSAR-BOTH", "delete"), ("DSAR-READ", "access")]
    assert len({job.job_id for job in created.jobs}) == 3
    assert created.added_products == ()
    sent = sandbox_log(vendors.sandbox, "adobe_privacy", "create_jobs")[0]
    assert sent["headers"]["x-gw-ims-org-id"] == "SANDBOX@AdobeOrg"
    assert sent["body"]["companyContexts"] == [{"namespace": "imsOrgID",
                                                 "value": "SANDBOX@AdobeOrg"}]


def test_submit_jobs_splits_1001_users_into_two_requests(vendors):
    users = [PrivacyUser(f"DSAR-BULK-{n:04d}", ("access",),
                         (UserID("email", f"subject{n}@example.org"),)) for n in range(1001)]
    # Not a timeout test: the sandbox checks 1000 users per request, which on a busy machine can
    # take longer than the 1 s read timeout the fault tests use.
    vendors.privacy.timeout = (2.0, 30.0)

    outcomes = vendors.privacy.submit_jobs(users, include=["analytics"], regulation=REGULATION)

    assert [len(o.keys) for o in outcomes] == [1000, 1]
    assert all(o.error is None for o in outcomes)
    assert sum(len(o.result.jobs) for o in outcomes if o.result) == 1001
    assert vendors.count("adobe_privacy", "create_jobs") == 2
    bodies = [r["body"] for r in sandbox_log(vendors.sandbox, "adobe_privacy", "create_jobs")]
    assert [len(body["users"]) for body in bodies] == [1000, 1]
    assert len(vendors.sandbox.state.privacy_jobs) == 1001


def test_get_job_walks_to_complete_with_products_codes_and_a_download_url(make_sandbox):
    sandbox = make_sandbox(speed=None)  # statuses move only when the test advances them
    v = connect(sandbox)
    created = v.privacy.create_jobs([privacy_user("DSAR-WALK")],
                                    include=["analytics", "profileService"], regulation=REGULATION)
    job_id = created.jobs[0].job_id

    seen = []
    for _ in range(3):
        job = v.privacy.get_job(job_id)
        seen.append((job.vendor_status, job.status, job.download_url is not None))
        sandbox.advance(steps=1, job_id=job_id)

    assert seen == [("submitted", JobStatus.SUBMITTED, False),
                    ("processing", JobStatus.PROCESSING, False),
                    ("complete", JobStatus.COMPLETE, True)]
    assert (job.request_id, job.user_key, job.action, job.regulation) == (
        created.request_id, "DSAR-WALK", "access", REGULATION)
    assert [(p.product, p.status) for p in job.products] == [("Analytics", "complete"),
                                                              ("Profile", "complete")]
    assert job.result_codes == ("6000-200", "6000-200")
    assert job.created_at is not None and job.created_at.tzinfo == UTC
    assert job.download_url.startswith(f"{sandbox.url}/adobe/download/{job_id}.zip?sig=")
    assert job.download_url not in repr(job)


def test_list_jobs_with_a_date_window_and_find_jobs_reconciles_by_key(vendors):
    today = datetime.now(UTC).date()
    create_one(vendors, "DSAR-LIST-A")
    vendors.privacy.create_jobs([privacy_user("DSAR-LIST-B", "access", "delete")],
                                include=["analytics"], regulation=REGULATION)

    listing = vendors.privacy.list_jobs(regulation=REGULATION, from_date=today - timedelta(1),
                                        to_date=today + timedelta(1), size=1)
    found = vendors.privacy.find_jobs("DSAR-LIST-B", regulation=REGULATION)
    old = vendors.privacy.list_jobs(regulation=REGULATION, from_date=today - timedelta(60),
                                    to_date=today - timedelta(31))

    assert (listing.total_records, len(listing.jobs), listing.complete) == (3, 3, True)
    walked = [r["path"] for r in sandbox_log(vendors.sandbox, "adobe_privacy", "list_jobs")][:3]
    assert [re.search(r"[?&]page=(\d+)", path).group(1) for path in walked] == ["0", "1", "2"]
    assert f"fromDate={today - timedelta(1)}" in walked[0]
    assert f"toDate={today + timedelta(1)}" in walked[0]
    assert vendors.count("adobe_privacy", "list_jobs") == 5  # 3 pages + find_jobs + old
    assert sorted(job.action for job in found) == ["access", "delete"]
    assert {job.user_key for job in found} == {"DSAR-LIST-B"}
    assert all(job.status == JobStatus.COMPLETE for job in found)
    assert (old.total_records, old.jobs) == (0, ())


def test_list_window_over_thirty_days_is_refused_before_sending(vendors):
    error = raised(lambda: vendors.privacy.list_jobs(
        regulation=REGULATION, from_date=date(2026, 1, 1), to_date=date(2026, 2, 15)))

    assert_error(error, InvalidInput)
    assert vendors.count("adobe_privacy", "list_jobs") == 0


def test_retired_regulation_code_is_refused_before_sending(vendors):
    error = raised(lambda: vendors.privacy.create_jobs(
        [privacy_user("DSAR-RETIRED")], include=["analytics"], regulation="cpra_usa"))

    assert_error(error, InvalidInput, retryable=False, maybe_sent=False)
    assert "cpra_ca_usa" in error.message
    assert vendors.count("adobe_privacy", "create_jobs") == 0


def test_cjm_delete_gets_its_upstream_products_and_completes(vendors):
    created = vendors.privacy.create_jobs([privacy_user("DSAR-CJM", "delete")],
                                          include=["CJM"], regulation=REGULATION)

    job = vendors.privacy.get_job(created.jobs[0].job_id)

    assert created.added_products == ("profileService", "AdobeCloudPlatform", "identity")
    sent = sandbox_log(vendors.sandbox, "adobe_privacy", "create_jobs")[0]["body"]
    assert sent["include"] == ["CJM", "profileService", "AdobeCloudPlatform", "identity"]
    assert job.status == JobStatus.COMPLETE
    assert {p.product for p in job.products} == {"JourneyOptimizer", "Profile",
                                                 "AdobeCloudPlatform", "Identity"}


def test_raw_cjm_delete_without_upstream_products_stays_processing(vendors):
    body = {"companyContexts": [{"namespace": "imsOrgID", "value": "SANDBOX@AdobeOrg"}],
            "users": [privacy_user("DSAR-RAW-CJM", "delete").payload()],
            "include": ["CJM", "profileService"], "regulation": REGULATION}
    response = requests.post(f"{vendors.sandbox.url}/adobe/privacy/jobs", json=body,
                             headers=vendors.privacy.auth_headers(), timeout=5)
    assert response.status_code == 202, response.text
    job_id = response.json()["jobs"][0]["jobId"]

    vendors.sandbox.advance(steps=10)
    job = vendors.privacy.get_job(job_id)

    assert (job.vendor_status, job.status) == ("processing", JobStatus.PROCESSING)
    assert {(p.product, p.status) for p in job.products} == {("JourneyOptimizer", "processing"),
                                                             ("Profile", "complete")}


@pytest.mark.parametrize(("key", "status", "codes"), [
    ("DSAR-sandbox-error-1", JobStatus.ERROR, ("1021-400", "1021-400")),
    ("DSAR-sandbox-partial-1", JobStatus.PARTIAL, ("1022-400", "6000-200")),
    ("DSAR-sandbox-nodata-1", JobStatus.COMPLETE, ("6052-200", "6052-200")),
])
def test_job_outcomes_map_to_statuses_by_result_code(vendors, key, status, codes):
    job = vendors.privacy.get_job(create_one(vendors, key, action="delete"))

    assert (job.status, job.result_codes) == (status, codes)


def test_outcome_set_later_is_read_as_partial(vendors):
    job_id = create_one(vendors, "DSAR-LATER")
    vendors.sandbox.set_outcome(job_id, "partial")

    assert vendors.privacy.get_job(job_id).status == JobStatus.PARTIAL


def test_completed_access_job_zip_downloads_through_the_downloader(vendors, tmp_path: Path):
    job = vendors.privacy.get_job(create_one(vendors, "DSAR-ZIP"))
    dest = tmp_path / "result.zip"

    result = vendors.downloader.download(job.download_url, dest,
                                         auth_headers=vendors.privacy.auth_headers())

    data = dest.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data) == dest.stat().st_size
    assert (result.content_type, result.host, result.path) == ("application/zip", "127.0.0.1",
                                                               str(dest))
    with zipfile.ZipFile(dest) as archive:
        assert archive.testzip() is None
        assert {"Analytics/data.json", "Profile/profile.json"} <= set(archive.namelist())
        assert json.loads(archive.read("Analytics/data.json"))["userKey"] == "DSAR-ZIP"
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    fetched = sandbox_log(vendors.sandbox, "adobe_privacy", "download_result")
    assert [r["status"] for r in fetched] == [200]
    assert "Authorization" not in fetched[0]["headers"]  # a pre-signed URL: no bearer token


# --------------------------------------------------------------------------- Data Hygiene


def test_work_order_is_created_and_read_complete(vendors):
    created = create_work_order(vendors)

    order = vendors.hygiene.get_work_order(created.workorder_id)

    assert re.fullmatch(r"DI-[0-9a-f-]{36}", created.workorder_id)
    assert (created.vendor_status, created.status) == ("received", JobStatus.SUBMITTED)
    assert (order.vendor_status, order.status) == ("completed", JobStatus.COMPLETE)
    assert {p.status for p in order.products} == {"success"}
    assert order.failed_products == ()
    sent = sandbox_log(vendors.sandbox, "adobe_hygiene", "create_workorder")[0]
    assert sent["headers"]["x-sandbox-name"] == "prod"
    assert sent["body"]["action"] == "delete_identity"


def test_work_order_walks_every_status(make_sandbox):
    sandbox = make_sandbox(speed=None)
    v = connect(sandbox)
    workorder_id = create_work_order(v).workorder_id

    seen = []
    for _ in range(5):
        order = v.hygiene.get_work_order(workorder_id)
        seen.append((order.vendor_status, order.status))
        sandbox.advance(steps=1, job_id=workorder_id)

    assert seen == [("received", JobStatus.SUBMITTED), ("validated", JobStatus.PROCESSING),
                    ("submitted", JobStatus.PROCESSING), ("ingested", JobStatus.PROCESSING),
                    ("completed", JobStatus.COMPLETE)]


def test_failed_work_order_is_an_error_naming_the_failed_product(vendors):
    created = create_work_order(vendors, display_name="sandbox-failed cleanup")

    order = vendors.hygiene.get_work_order(created.workorder_id)

    assert (order.vendor_status, order.status) == ("failed", JobStatus.ERROR)
    assert order.failed_products == ("Data Management",)


def test_hygiene_without_a_sandbox_name_is_refused(sandbox):
    with pytest.raises(AuthError) as info:
        AdobeHygieneClient(token_provider(sandbox), sandbox_name="",
                           base_url=f"{sandbox.url}/adobe/hygiene")

    assert info.value.code == "not_configured"
    assert "ADOBE_SANDBOX_NAME" in info.value.message
    assert sandbox.counters() == {}


# --------------------------------------------------------------------------- ID5


def test_id5_deletion_sends_the_email_hashed(vendors):
    email = " Ada.Lovelace+dsar@GoogleMail.com "

    deletion = vendors.id5.request_deletion(DeletionRequest("gdpr", email=email))

    assert re.fullmatch(r"[0-9a-f]{32}", deletion.request_id)
    sent = sandbox_log(vendors.sandbox, "id5", "create_deletion")
    assert len(sent) == 1
    assert sent[0]["body"] == {"jurisdiction": "GDPR", "email": hash_email(email)}
    assert HEX64.fullmatch(sent[0]["body"]["email"])
    assert sent[0]["headers"]["Content-Type"] == "application/json; charset=UTF-8"
    assert "token=***" in sent[0]["path"]
    assert "lovelace" not in json.dumps(vendors.sandbox.requests()).lower()


@pytest.mark.parametrize(("request_kwargs", "vendor_status", "status", "result", "emailed"), [
    ({"partner_uid": "uid-done"}, "DONE", JobStatus.COMPLETE, "DELETE_DELETED", False),
    ({"partner_uid": "uid-sent", "reply_to_email": "dpo@example.org"}, "SENT",
     JobStatus.COMPLETE, "DELETE_DELETED", True),
    ({"partner_uid": "uid-sandbox-nodata"}, "DONE", JobStatus.COMPLETE, "DELETE_NO_DATA", False),
    ({"partner_uid": "uid-sandbox-failed"}, "FAILED", JobStatus.ERROR, "NONE", False),
    ({"partner_uid": "uid-mail", "reply_to_email": "sandbox-send-failed@example.org"},
     "SEND_FAILED", JobStatus.COMPLETE, "DELETE_DELETED", False),
])
def test_id5_status_mapping(vendors, request_kwargs, vendor_status, status, result, emailed):
    deletion = vendors.id5.request_deletion(DeletionRequest("CCPA", **request_kwargs))

    job = vendors.id5.get_status(deletion.request_id)

    assert (job.vendor_status, job.status, job.processing_result) == (vendor_status, status,
                                                                       result)
    assert (job.email_sent_at is not None) is emailed
    assert job.email_failed is (vendor_status == "SEND_FAILED")


def test_id5_status_walks_created_started_done_sent(make_sandbox):
    sandbox = make_sandbox(speed=None)
    v = connect(sandbox)
    request_id = v.id5.request_deletion(DeletionRequest(
        "GDPR", partner_uid="uid-walk", reply_to_email="dpo@example.org")).request_id

    seen = []
    for _ in range(4):
        job = v.id5.get_status(request_id)
        seen.append((job.vendor_status, job.status))
        sandbox.advance(steps=1, job_id=request_id)

    assert seen == [("CREATED", JobStatus.SUBMITTED), ("STARTED", JobStatus.PROCESSING),
                    ("DONE", JobStatus.COMPLETE), ("SENT", JobStatus.COMPLETE)]


def assert_until_next_utc_midnight(error: ConnectorError, before: datetime) -> None:
    assert error.retry_after in {next_utc_midnight(before), next_utc_midnight()}
    assert error.retry_at() == error.retry_after


def test_second_deletion_for_the_same_email_the_same_day_is_rate_limited(vendors):
    vendors.id5.request_deletion(DeletionRequest("GDPR", email="Ada.Lovelace+dsar@gmail.com"))
    before = datetime.now(UTC)

    # The same person after gmail normalisation: ID5 counts one identifier.
    error = raised(lambda: vendors.id5.request_deletion(
        DeletionRequest("GDPR", email="adalovelace@googlemail.com")))

    assert_error(error, RateLimited, status=403, code="api_rate_limit_error", scope="email",
                 retryable=True, maybe_sent=False)
    assert_until_next_utc_midnight(error, before)
    assert vendors.count("id5", "create_deletion") == 2
    assert len(vendors.sandbox.state.id5_requests) == 1


def test_partner_daily_limit_is_rate_limited_for_the_whole_partner(make_sandbox):
    v = connect(make_sandbox(id5_partner_daily_limit=2))
    for uid in ("uid-1", "uid-2"):
        v.id5.request_deletion(DeletionRequest("GDPR", partner_uid=uid))
    before = datetime.now(UTC)

    error = raised(lambda: v.id5.request_deletion(DeletionRequest("GDPR", partner_uid="uid-3")))

    assert_error(error, RateLimited, status=403, code="api_rate_limit_error", scope="partner")
    assert_until_next_utc_midnight(error, before)


def test_id5_wrong_token_is_an_auth_error_that_never_shows_the_token(sandbox):
    client = id5_client(sandbox, token=WRONG_ID5_TOKEN)

    error = raised(lambda: client.request_deletion(DeletionRequest("GDPR", partner_uid="u-1")))

    assert_error(error, AuthError, status=403, code="api_token_not_authorized", retryable=False)
    assert "ID5_TOKEN" in error.message
    for text in (error.message, str(error), repr(error),
                 "".join(traceback.format_exception(error))):
        assert WRONG_ID5_TOKEN not in text
    # The sandbox did echo it, as ID5 does: the connector redacted it.
    assert sandbox.count("id5", "create_deletion") == 1


def test_malformed_id5id_is_refused_before_sending(vendors):
    error = raised(lambda: vendors.id5.request_deletion(
        DeletionRequest("GDPR", id5id="not-an-id5-id")))

    assert_error(error, InvalidInput, retryable=False)
    assert vendors.count("id5", "create_deletion") == 0


def test_id5id_that_cannot_be_decrypted_is_refused_without_echoing_it(vendors):
    id5id = "ID5*too-short"

    error = raised(lambda: vendors.id5.request_deletion(DeletionRequest("GDPR", id5id=id5id)))

    assert_error(error, PermanentError, status=400, code="user_objects_invalid",
                 retryable=False, maybe_sent=False)
    assert "cannot be decrypted" in error.message
    assert id5id not in error.message


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class PostCall:
    """A vendor POST under a fault, and how to tell whether the sandbox applied it."""

    vendor: str
    operation: str
    send: Callable[[Vendors], object]
    applied: Callable[[Vendors], bool]
    error_codes: dict[str, str] = field(default_factory=dict)  # fault kind → err.code


def _state_count(v: Vendors, store: str) -> int:
    with v.sandbox.state.lock:
        return len(getattr(v.sandbox.state, store))


ADOBE_CODES = {"5xx": "503050", "429": "429050", "429_no_retry_after": "429050"}
POSTS = {
    "privacy": PostCall(
        "adobe_privacy", "create_jobs",
        lambda v: v.privacy.create_jobs([privacy_user("DSAR-FAULT", "delete")],
                                        include=["analytics"], regulation=REGULATION),
        # Reconciliation as the workflow does it: look the job up by its user key.
        lambda v: bool(v.privacy.find_jobs("DSAR-FAULT", regulation=REGULATION)),
        ADOBE_CODES),
    "hygiene": PostCall("adobe_hygiene", "create_workorder", create_work_order,
                        lambda v: _state_count(v, "workorders") == 1, ADOBE_CODES),
    "id5": PostCall(
        "id5", "create_deletion",
        lambda v: v.id5.request_deletion(DeletionRequest("GDPR", partner_uid="uid-fault")),
        lambda v: _state_count(v, "id5_requests") == 1,
        {"5xx": "internal_id5_error", "429": "api_rate_limit_error",
         "429_no_retry_after": "api_rate_limit_error"}),
}


def arm(sandbox: SandboxServer, kind: str, vendor: str, operation: str, *, count: int = 1,
        retry_after: int = POST_RETRY_AFTER) -> None:
    delay = {"timeout": TIMEOUT_DELAY, "slow": SLOW_DELAY}.get(kind, 0.0)
    sandbox.add_fault(kind, vendor=vendor, operation=operation, count=count, delay=delay,
                      retry_after=retry_after)


def expected_error(kind: str, code: str | None, retry_after: int) -> tuple[type, dict[str, Any]]:
    """The error a fault that lasts every try must raise (connectors/README.md, typed errors).
    A 5xx or 429 is the vendor's answer that nothing was applied: retried, never reconciled.
    Only a send left without an answer (timeout, drop, unreadable body) may have been applied."""
    transport = {"maybe_sent": True, "status": None, "retry_after": None}
    return {
        "5xx": (TransientError, {"maybe_sent": False, "status": 503, "code": code,
                                 "retry_after": None}),
        "429": (RateLimited, {"maybe_sent": False, "status": 429, "code": code,
                              "retry_after": float(retry_after)}),
        "429_no_retry_after": (RateLimited, {"maybe_sent": False, "status": 429, "code": code,
                                             "retry_after": None}),
        "timeout": (TransientError, {**transport, "code": "timeout"}),
        "drop": (TransientError, {**transport, "code": "connection_dropped"}),
        "drop_after": (TransientError, {**transport, "code": "connection_dropped"}),
        "malformed": (TransientError, {**transport, "code": "malformed_response"}),
    }[kind]


def fault_cases(calls: tuple[str, ...]) -> list[Any]:
    return [pytest.param(name, kind, id=f"{name}-{kind}") for name in calls for kind in FAULT_KINDS]


def check_fault_error(error: ConnectorError, method: str, name: str, kind: str,
                      code: str | None, retry_after: int) -> None:
    cls, attrs = expected_error(kind, code, retry_after)
    assert_error(error, cls, retryable=True, **attrs)


@pytest.mark.parametrize(("name", "kind"), fault_cases(tuple(POSTS)))
def test_post_fault_raises_the_typed_error_and_is_never_resent(sandbox, name, kind):
    call, v = POSTS[name], connect(sandbox)
    v.tokens.token()  # the IMS call is not under test here
    arm(sandbox, kind, call.vendor, call.operation)

    if kind == "slow":
        assert call.send(v)
        error = None
    else:
        error = raised(lambda: call.send(v))

    assert v.count(call.vendor, call.operation) == 1  # POSTs are not retried by urllib3
    assert call.applied(v) is (kind in APPLIED_KINDS)
    if error is not None:
        check_fault_error(error, "POST", name, kind, call.error_codes.get(kind), POST_RETRY_AFTER)


def test_drop_after_create_is_reconciled_by_key_instead_of_resent(vendors):
    arm(vendors.sandbox, "drop_after", "adobe_privacy", "create_jobs")

    error = raised(lambda: POSTS["privacy"].send(vendors))
    found = vendors.privacy.find_jobs("DSAR-FAULT", regulation=REGULATION)

    assert error.maybe_sent is True
    assert [(job.user_key, job.action) for job in found] == [("DSAR-FAULT", "delete")]
    assert vendors.count("adobe_privacy", "create_jobs") == 1


@dataclass(frozen=True)
class GetCall:
    """A vendor GET under a fault: `prepare` creates what it reads."""

    vendor: str
    operation: str
    prepare: Callable[[Vendors], str]
    read: Callable[[Vendors, str], object]
    error_codes: dict[str, str] = field(default_factory=dict)


GETS = {
    "privacy": GetCall("adobe_privacy", "get_job", lambda v: create_one(v, "DSAR-GET"),
                       lambda v, job_id: v.privacy.get_job(job_id), ADOBE_CODES),
    "hygiene": GetCall("adobe_hygiene", "get_workorder",
                       lambda v: create_work_order(v).workorder_id,
                       lambda v, order_id: v.hygiene.get_work_order(order_id), ADOBE_CODES),
    "id5": GetCall(
        "id5", "get_deletion_status",
        lambda v: v.id5.request_deletion(DeletionRequest("GDPR", partner_uid="uid-get")).request_id,
        lambda v, request_id: v.id5.get_status(request_id), POSTS["id5"].error_codes),
}
# Requests the sandbox sees for one read: urllib3 retries GETs on read errors and 429/5xx
# (3 retries), answers are not retried, and a Retry-After over the cap is not waited out.
GET_TRIES_ONCE = {"5xx": 2, "429": 2, "429_no_retry_after": 2, "timeout": 2, "slow": 1,
                  "drop": 2, "drop_after": 2, "malformed": 1}
GET_TRIES_ALWAYS = {**{kind: 4 for kind in FAULT_KINDS}, "429": 1, "slow": 1, "malformed": 1}


@pytest.mark.parametrize(("name", "kind"), fault_cases(tuple(GETS)))
def test_get_fault_once_is_retried_by_urllib3(sandbox, name, kind):
    call, v = GETS[name], connect(sandbox)
    target = call.prepare(v)
    arm(sandbox, kind, call.vendor, call.operation, retry_after=SHORT_RETRY_AFTER)

    if kind == "malformed":  # a 200 is an answer: not retried
        error = raised(lambda: call.read(v, target))
        assert_error(error, TransientError, code="malformed_response", maybe_sent=True)
    else:
        assert call.read(v, target)

    assert v.count(call.vendor, call.operation) == GET_TRIES_ONCE[kind]


@pytest.mark.parametrize(("name", "kind"), fault_cases(tuple(GETS)))
def test_get_fault_on_every_try_raises_the_typed_error(sandbox, name, kind):
    call, v = GETS[name], connect(sandbox, fast_retries=True)
    target = call.prepare(v)
    arm(sandbox, kind, call.vendor, call.operation, count=-1, retry_after=LONG_RETRY_AFTER)

    if kind == "slow":
        assert call.read(v, target)
        error = None
    else:
        error = raised(lambda: call.read(v, target))

    assert v.count(call.vendor, call.operation) == GET_TRIES_ALWAYS[kind]
    if error is not None:
        check_fault_error(error, "GET", name, kind, call.error_codes.get(kind), LONG_RETRY_AFTER)


def test_connection_refused_is_transient_and_certainly_not_sent(sandbox):
    v = connect(sandbox, fast_retries=True)
    sandbox.stop()  # nothing listens on the port any more

    error = raised(lambda: v.id5.request_deletion(DeletionRequest("GDPR", partner_uid="u-9")))

    assert_error(error, TransientError, code="connect_failed", maybe_sent=False, retryable=True)
    assert v.count("id5", "create_deletion") == 0


def test_get_waits_out_a_short_retry_after_within_the_call(vendors):
    job_id = create_one(vendors, "DSAR-WAIT")
    arm(vendors.sandbox, "429", "adobe_privacy", "get_job", retry_after=SHORT_RETRY_AFTER)
    started = datetime.now(UTC)

    assert vendors.privacy.get_job(job_id).job_id == job_id
    assert datetime.now(UTC) - started >= timedelta(seconds=SHORT_RETRY_AFTER * 0.9)


def test_download_fault_once_is_retried_and_the_zip_is_whole(vendors, tmp_path: Path):
    job = vendors.privacy.get_job(create_one(vendors, "DSAR-ZIP-FAULT"))
    arm(vendors.sandbox, "drop", "adobe_privacy", "download_result")

    result = vendors.downloader.download(job.download_url, tmp_path / "r.zip")

    assert zipfile.is_zipfile(tmp_path / "r.zip")
    assert result.size == (tmp_path / "r.zip").stat().st_size
    assert vendors.count("adobe_privacy", "download_result") == 2


# --------------------------------------------------------------------------- redaction


def issued_tokens(sandbox: SandboxServer) -> set[str]:
    with sandbox.state.lock:
        return set(sandbox.state.tokens)


def run_adobe_calls(v: Vendors) -> tuple[set[str], list[ConnectorError]]:
    """Token fetch, a refetch after revocation, a wrong secret: (access tokens, errors)."""
    job_id = create_one(v, "DSAR-REDACT")
    tokens = issued_tokens(v.sandbox)
    v.sandbox.revoke_tokens()
    v.privacy.get_job(job_id)
    tokens |= issued_tokens(v.sandbox)
    errors = [raised(token_provider(v.sandbox, secret=WRONG_SECRET).token)]
    return tokens, errors


def run_id5_calls(v: Vendors) -> list[ConnectorError]:
    """Success, a 403 for a bad token and dropped connections (POST, and a GET on every try,
    whose urllib3 retry warnings and MaxRetryError carry the ?token= URL)."""
    request_id = v.id5.request_deletion(DeletionRequest("GDPR", partner_uid="uid-r")).request_id
    v.id5.get_status(request_id)
    bad = id5_client(v.sandbox, token=WRONG_ID5_TOKEN)
    errors = [raised(lambda: bad.request_deletion(DeletionRequest("GDPR", partner_uid="u-2")))]
    v.sandbox.add_fault("drop", vendor="id5", operation="create_deletion")
    errors.append(raised(lambda: v.id5.request_deletion(
        DeletionRequest("GDPR", partner_uid="uid-drop"))))
    v.sandbox.add_fault("drop", vendor="id5", operation="get_deletion_status", count=-1)
    errors.append(raised(lambda: v.id5.get_status(request_id)))
    return errors


def debug_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    """DEBUG on the root and on every logger with a level of its own (settings.LOGGING keeps
    urllib3 at WARNING, but its DEBUG request lines are the ones that carry ?token=)."""
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level:
            caplog.set_level(logging.DEBUG, logger=name)


def test_no_secret_reaches_logs_errors_or_tracebacks_over_real_http(sandbox, caplog,
                                                                    monkeypatch):
    debug_everywhere(caplog)
    # settings.LOGGING's handler redacts too (and rewrites records in place): switch it off to
    # prove the connectors' own redaction (connectors/README.md, secret redaction) suffices.
    for handler in logging.getLogger().handlers:
        monkeypatch.setattr(handler, "filters", [])
    v = connect(sandbox, fast_retries=True)

    access_tokens, errors = run_adobe_calls(v)
    errors += run_id5_calls(v)

    secrets = {sandbox.config.id5_token, WRONG_ID5_TOKEN, sandbox.config.client_secret,
               WRONG_SECRET, *access_tokens}
    assert len(access_tokens) == 2
    texts = [record.getMessage() for record in caplog.records] + [caplog.text]
    for error in errors:
        texts += [error.message, str(error), repr(error),
                  "".join(traceback.format_exception(error))]
    leaks = [(secret, text) for secret in secrets for text in texts if secret in text]
    assert leaks == []
    # The test saw what it guards against: urllib3's request lines with the ID5 query string.
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("/privacy/requests/deletion?token=[REDACTED]" in line for line in urllib3_lines)
    assert [type(e).__name__ for e in errors] == ["AuthError", "AuthError", "TransientError",
                                                  "TransientError"]
