"""ID5 Privacy Requests API: deletion requests and their status (docs/vendors.md, ID5).

The permanent token travels in the query string, and ID5's 403 message echoes it: every message
and log line here is redacted, and requests exceptions (whose text embeds the URL) are never
chained to the errors we raise. Rate limits come back as HTTP 403, not 429.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from cases.choices import JobStatus
from connectors.base import (
    AMBIGUOUS_STATUSES,
    AttemptHook,
    AuthError,
    ConnectorError,
    InvalidInput,
    PermanentError,
    RateLimited,
    TransientError,
    Transport,
    next_utc_midnight,
    redact,
    safe_json,
)

log = logging.getLogger("connectors.id5")

ID5_BASE_URL = "https://api.id5-sync.com"
TEST_PARTNER_ID = "173"  # ID5's public test partner (docs/vendors.md [ID5-DSAR])
# ID5 answers 400 request_format_invalid unless the charset is spelled out
# (docs/vendors.md [ID5-DSAR]).
CONTENT_TYPE = "application/json; charset=UTF-8"
JURISDICTIONS = frozenset({"GDPR", "CCPA"})
# README "How a case travels": other regulations are not_applicable unless an officer picks one.
JURISDICTION_BY_REGULATION = {"gdpr": "GDPR", "ccpa": "CCPA", "cpra_ca_usa": "CCPA"}
_SHA256_HEX = re.compile(r"[a-f0-9]{64}")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
# ID5's messages echo identifiers in brackets ("Provided maid [..] is not a valid one").
_BRACKETED = re.compile(r"\[[^\]]*\]")
_PER_IDENTIFIER = re.compile(r"per (email|id5id|maid|partnerUid)\b", re.I)

# jobStatus → normalised status. SEND_FAILED: the deletion is DONE, only ID5's confirmation
# email to replyToEmail failed. Privacy Desk answers the subject itself, so the job is complete;
# `ID5Job.email_failed` flags it for the case timeline.
STATUS_MAP = {
    "CREATED": JobStatus.SUBMITTED,
    "STARTED": JobStatus.PROCESSING,
    "DONE": JobStatus.COMPLETE,
    "SENT": JobStatus.COMPLETE,
    "SEND_FAILED": JobStatus.COMPLETE,
    "FAILED": JobStatus.ERROR,
    "CANCELLED": JobStatus.CANCELLED,
}


# --------------------------------------------------------------------------- email hashing


def normalise_email(email: str) -> str:
    """Trim, lowercase; for gmail.com/googlemail.com drop dots and any +tag from the local part
    and use gmail.com — as ID5's own JS library does (docs/vendors.md, ID5)."""
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or domain not in _GMAIL_DOMAINS:
        return email
    local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@gmail.com"


def hash_email(email: str) -> str:
    """SHA-256 (64 lowercase hex) of the normalised email; an existing hash passes through."""
    value = email.strip().lower()
    if _SHA256_HEX.fullmatch(value):
        return value
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


def jurisdiction_for(regulation: str) -> str | None:
    """ID5's jurisdiction for an Adobe regulation code, or None when ID5 does not apply."""
    return JURISDICTION_BY_REGULATION.get(regulation.lower())


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class ID5Config:
    partner_id: str
    token: str = field(repr=False)
    base_url: str = ID5_BASE_URL

    def __post_init__(self) -> None:
        object.__setattr__(self, "partner_id", str(self.partner_id).strip())
        if not self.partner_id or not self.token:
            raise AuthError("ID5 is not configured: set ID5_PARTNER_ID and ID5_TOKEN",
                            code="not_configured")


@dataclass(frozen=True)
class DeletionRequest:
    """What to delete at ID5. Identifier values are personal data: kept out of reprs.
    `hash_email` sends the SHA-256 of the normalised email instead of the address."""

    jurisdiction: str  # GDPR | CCPA, case-insensitive
    email: str | None = field(default=None, repr=False)
    id5id: str | None = field(default=None, repr=False)
    maid: str | None = field(default=None, repr=False)  # GAID/IDFA as UUID text
    partner_uid: str | None = field(default=None, repr=False)
    reply_to_email: str | None = field(default=None, repr=False)
    hash_email: bool = True

    def payload(self) -> dict[str, str]:
        validate_deletion(self)
        body = {"jurisdiction": self.jurisdiction.upper()}
        if self.email:
            body["email"] = hash_email(self.email) if self.hash_email else self.email.strip()
        optional = {"id5id": self.id5id, "maid": self.maid, "partnerUid": self.partner_uid,
                    "replyToEmail": self.reply_to_email}
        body.update({name: value.strip() for name, value in optional.items() if value})
        return body


@dataclass(frozen=True)
class ID5Deletion:
    request_id: str


@dataclass(frozen=True)
class ID5Job:
    request_id: str
    status: JobStatus
    vendor_status: str  # jobStatus
    processing_result: str | None  # DELETE_DELETED | DELETE_NO_DATA | NONE
    email_sent_at: datetime | None
    email_failed: bool  # SEND_FAILED: deletion done, ID5's reply email not delivered


def validate_deletion(request: DeletionRequest) -> None:
    if request.jurisdiction.upper() not in JURISDICTIONS:
        raise InvalidInput("ID5 accepts deletion requests only under GDPR or CCPA")
    if not any((request.email, request.id5id, request.maid, request.partner_uid)):
        raise InvalidInput("An ID5 deletion needs an email, id5id, maid or partnerUid")
    if request.email and not _SHA256_HEX.fullmatch(request.email.strip().lower()) \
            and "@" not in request.email:
        raise InvalidInput("The email for ID5 is neither an address nor a SHA-256 hash")
    if request.id5id and not request.id5id.strip().startswith(("ID5*", "ID5-")):
        raise InvalidInput("An ID5 ID starts with 'ID5*' (encrypted) or 'ID5-' (decrypted)")
    if request.maid and not _is_uuid(request.maid.strip()):
        raise InvalidInput("A maid (GAID/IDFA) must be a UUID like "
                           "580d2b4c-29a5-7a7b-85dc-44132c023ac8")
    if request.reply_to_email and "@" not in request.reply_to_email:
        raise InvalidInput("replyToEmail is not an email address")


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _epoch_ms(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


# --------------------------------------------------------------------------- client


class ID5Client(Transport):
    vendor = "id5"
    label = "ID5"

    def __init__(self, config: ID5Config, *, session: requests.Session | None = None,
                 on_attempt: AttemptHook | None = None) -> None:
        super().__init__(session=session, on_attempt=on_attempt)
        self.config = config
        self.base_url = config.base_url.rstrip("/")

    def secrets(self) -> tuple[str, ...]:
        return (self.config.token,)

    def _url(self, tail: str) -> str:
        partner = quote(self.config.partner_id, safe="")
        return f"{self.base_url}/partners/v1/{partner}/privacy/requests/{tail}"

    def request_deletion(self, request: DeletionRequest) -> ID5Deletion:
        """POST …/privacy/requests/deletion; ID5 allows 1 per identifier and 3,000 per partner
        per day (403 api_rate_limit_error → RateLimited until the next UTC midnight)."""
        body = json.dumps(request.payload()).encode()
        answer = self.request_json(
            "POST", self._url("deletion"), operation="request_deletion",
            params={"token": self.config.token}, data=body,
            headers={"Content-Type": CONTENT_TYPE})
        request_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(request_id, str) or not request_id:
            raise self.malformed("request_deletion", "no id")
        return ID5Deletion(request_id)

    def get_status(self, request_id: str) -> ID5Job:
        answer = self.request_json(
            "GET", self._url(quote(request_id, safe="")), operation="get_status",
            params={"token": self.config.token})
        if not isinstance(answer, dict) or not answer.get("jobStatus"):
            raise self.malformed("get_status", "no jobStatus")
        return self._job(request_id, answer)

    @staticmethod
    def _job(request_id: str, answer: dict[str, Any]) -> ID5Job:
        vendor_status = str(answer["jobStatus"]).upper()
        status = STATUS_MAP.get(vendor_status)
        if status is None:
            log.warning("Unknown ID5 jobStatus %r; treating it as processing", vendor_status)
            status = JobStatus.PROCESSING
        return ID5Job(
            request_id=str(answer.get("id") or request_id),
            status=status,
            vendor_status=vendor_status,
            processing_result=answer.get("processingResult"),
            email_sent_at=_epoch_ms(answer.get("emailSentUnixTimestamp")),
            email_failed=vendor_status == "SEND_FAILED",
        )

    def raise_for_response(self, response: requests.Response, operation: str) -> None:
        body = safe_json(response)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = str(error.get("code") or "") or None
        message = _BRACKETED.sub("[…]", redact(error.get("message") or "", self.secrets()))
        known = self.id5_error(response.status_code, code, message)
        raise known or self.http_error(response, operation=operation, detail=message or None,
                                       code=code)

    def id5_error(self, status: int, code: str | None, message: str) -> ConnectorError | None:
        """ID5's error table (docs/vendors.md, ID5 errors), row by row; None for anything else."""
        said = f"ID5: {message} (HTTP {status}, {code})" if message else f"ID5: HTTP {status}"
        partner = self.config.partner_id
        # ID5 documents its daily limits as 403; a 429 is ordinary throttling with Retry-After.
        if code == "api_rate_limit_error" and status == 403:
            return _rate_limited(said, status, message)
        if code == "api_token_invalid":
            return AuthError(f"{said} — set ID5_TOKEN", status=status, code=code)
        if code == "partiner_id_invalid":  # sic: ID5's spelling
            return AuthError(f"{said} — check ID5_PARTNER_ID (now {partner})",
                             status=status, code=code)
        if code == "api_token_not_authorized":
            return AuthError(f"{said} — ID5_TOKEN is not valid for partner {partner}; check "
                             "ID5_TOKEN and ID5_PARTNER_ID", status=status, code=code)
        if status == 404:
            return PermanentError(f"{said} — ID5 has no deletion request with this id",
                                  status=status, code="not_found")
        if code in ("request_format_invalid", "user_objects_invalid", "user_object_invalid"):
            return PermanentError(f"{said} — correct the request; do not resend it as is",
                                  status=status, code=code)
        if code == "internal_id5_error" or status >= 500:
            # ID5 answered: the request was refused, not applied; only a gateway's 504 is unknown.
            return TransientError(f"{said} — a temporary ID5 problem; it will be retried",
                                  status=status, code=code, maybe_sent=status in AMBIGUOUS_STATUSES)
        return None


def _rate_limited(said: str, status: int, message: str) -> RateLimited:
    # "Limit of 1 request daily allowed per email|id5id|maid|partnerUid" vs "Limit of 3,000
    # requests daily allowed per partner": the first blocks one subject, the second every send.
    match = _PER_IDENTIFIER.search(message)
    scope = match.group(1) if match else "partner"
    what = (f"ID5 takes one deletion per {scope} per day" if match
            else "ID5's daily limit of deletion requests for this partner is used up")
    return RateLimited(f"{said} — {what}; retry after midnight UTC", status=status,
                       code="api_rate_limit_error", scope=scope, retry_after=next_utc_midnight())
