"""Every status and code the domain uses, as named sets.

Bare status strings elsewhere in the code are a smell: import from here.
"""

from django.db import models


class CaseStatus(models.TextChoices):
    NEW = "new", "New"
    VERIFIED = "verified", "Identity verified"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CLOSED = "closed", "Closed"
    ACTION_REQUIRED = "action_required", "Action required"
    ON_HOLD = "on_hold", "On hold"
    REJECTED = "rejected", "Rejected"


# Which moves a case may make. `on_hold` returns to the status it left, so it is
# handled by the hold/resume services rather than listed here.
CASE_TRANSITIONS: dict[str, frozenset[str]] = {
    # Vendors receive only verified cases: an API `submit` without `verification` first records
    # the caller's word (`ticketing_system`), so even then the case passes through `verified`.
    CaseStatus.NEW: frozenset({CaseStatus.VERIFIED, CaseStatus.REJECTED}),
    CaseStatus.VERIFIED: frozenset({CaseStatus.IN_PROGRESS, CaseStatus.REJECTED}),
    CaseStatus.IN_PROGRESS: frozenset({CaseStatus.COMPLETED, CaseStatus.ACTION_REQUIRED}),
    CaseStatus.ACTION_REQUIRED: frozenset(
        {CaseStatus.IN_PROGRESS, CaseStatus.COMPLETED, CaseStatus.REJECTED, CaseStatus.CLOSED}
    ),
    CaseStatus.COMPLETED: frozenset({CaseStatus.CLOSED, CaseStatus.IN_PROGRESS}),
    CaseStatus.ON_HOLD: frozenset(),
    CaseStatus.REJECTED: frozenset(),
    CaseStatus.CLOSED: frozenset(),
}

CASE_TERMINAL = frozenset({CaseStatus.CLOSED, CaseStatus.REJECTED})
# Statuses whose legal clock is running (a hold pauses it; a finished case has answered).
CASE_CLOCK_RUNNING = frozenset(
    {CaseStatus.NEW, CaseStatus.VERIFIED, CaseStatus.IN_PROGRESS, CaseStatus.ACTION_REQUIRED}
)
CASE_HOLDABLE = CASE_CLOCK_RUNNING
# Nothing has gone to a vendor yet: the subject, identities and routing may still change.
CASE_UNSUBMITTED = frozenset({CaseStatus.NEW, CaseStatus.VERIFIED})
# Nothing is left to send: every vendor job has ended well, or the case itself has ended.
CASE_NOTHING_TO_SEND = frozenset({CaseStatus.COMPLETED, CaseStatus.CLOSED, CaseStatus.REJECTED})


class Action(models.TextChoices):
    ACCESS = "access", "Access"
    DELETE = "delete", "Delete"


class CaseActions(models.TextChoices):
    """What the subject asked for; stored as one field so it filters cheaply."""

    ACCESS = "access", "Access"
    DELETE = "delete", "Delete"
    BOTH = "access,delete", "Access and delete"

    @classmethod
    def from_list(cls, actions: list[str] | tuple[str, ...]) -> "CaseActions":
        wanted = set(actions)
        unknown = wanted - {Action.ACCESS, Action.DELETE}
        if unknown or not wanted:
            raise ValueError(f"actions must be 'access', 'delete' or both, not {sorted(actions)}")
        if wanted == {Action.ACCESS, Action.DELETE}:
            return cls.BOTH
        return cls(wanted.pop())


class Regulation(models.TextChoices):
    """Adobe Privacy Service regulation codes (docs/vendors.md, Regulation codes)."""

    APA_AUS = "apa_aus", "Australia Privacy Act (apa_aus)"
    CCPA = "ccpa", "California CCPA (ccpa)"
    CPA_CO_USA = "cpa_co_usa", "Colorado Privacy Act (cpa_co_usa)"
    CPRA_CA_USA = "cpra_ca_usa", "California CPRA (cpra_ca_usa)"
    CTDPA_CT_USA = "ctdpa_ct_usa", "Connecticut Data Privacy Act (ctdpa_ct_usa)"
    DPDPA_DE_USA = "dpdpa_de_usa", "Delaware Personal Data Privacy Act (dpdpa_de_usa)"
    FDBR_FL_USA = "fdbr_fl_usa", "Florida Digital Bill of Rights (fdbr_fl_usa)"
    GDPR = "gdpr", "EU/EEA GDPR (gdpr)"
    HIPAA_USA = "hipaa_usa", "US HIPAA (hipaa_usa)"
    ICDPA_IA_USA = "icdpa_ia_usa", "Iowa Consumer Data Protection Act (icdpa_ia_usa)"
    LGPD_BRA = "lgpd_bra", "Brazil LGPD (lgpd_bra)"
    MCDPA_MN_USA = "mcdpa_mn_usa", "Minnesota Consumer Data Privacy Act (mcdpa_mn_usa)"
    MCDPA_MT_USA = "mcdpa_mt_usa", "Montana Consumer Data Privacy Act (mcdpa_mt_usa)"
    MHMDA_WA_USA = "mhmda_wa_usa", "Washington My Health My Data Act (mhmda_wa_usa)"
    MODPA_MD_USA = "modpa_md_usa", "Maryland Online Data Privacy Act (modpa_md_usa)"
    NDPA_NE_USA = "ndpa_ne_usa", "Nebraska Data Privacy Act (ndpa_ne_usa)"
    NHPA_NH_USA = "nhpa_nh_usa", "New Hampshire Privacy Act (nhpa_nh_usa)"
    NJDPA_NJ_USA = "njdpa_nj_usa", "New Jersey Data Privacy Act (njdpa_nj_usa)"
    NZPA_NZL = "nzpa_nzl", "New Zealand Privacy Act 2020 (nzpa_nzl)"
    OCPA_OR_USA = "ocpa_or_usa", "Oregon Consumer Privacy Act (ocpa_or_usa)"
    PDPA_THA = "pdpa_tha", "Thailand PDPA (pdpa_tha)"
    PIPA_KOR = "pipa_kor", "South Korea PIPA (pipa_kor)"
    QL25_QC_CAN = "ql25_qc_can", "Quebec Law 25 (ql25_qc_can)"
    TDPSA_TX_USA = "tdpsa_tx_usa", "Texas Data Privacy and Security Act (tdpsa_tx_usa)"
    TIPA_TN_USA = "tipa_tn_usa", "Tennessee Information Protection Act (tipa_tn_usa)"
    UCPA_UT_USA = "ucpa_ut_usa", "Utah Consumer Privacy Act (ucpa_ut_usa)"
    VCDPA_VA_USA = "vcdpa_va_usa", "Virginia Consumer Data Protection Act (vcdpa_va_usa)"


# Codes Adobe stopped accepting after 2025-07-28, with their replacements.
RETIRED_REGULATIONS: dict[str, str] = {
    "cpra_usa": Regulation.CPRA_CA_USA,
    "vcdpa_usa": Regulation.VCDPA_VA_USA,
    "ucpa_usa": Regulation.UCPA_UT_USA,
    "cpa": Regulation.CPA_CO_USA,
    "ctdpa": Regulation.CTDPA_CT_USA,
}


def regulation_error(code: str) -> str | None:
    """Why `code` cannot be used as a regulation, or None when it can."""
    if code in Regulation.values:
        return None
    if code in RETIRED_REGULATIONS:
        return (
            f"Regulation code '{code}' was retired by Adobe on 2025-07-28; "
            f"use '{RETIRED_REGULATIONS[code]}' instead."
        )
    return f"Unknown regulation code '{code}'."


class Vendor(models.TextChoices):
    ADOBE_PRIVACY = "adobe_privacy", "Adobe Privacy Service"
    ADOBE_HYGIENE = "adobe_hygiene", "Adobe Data Hygiene"
    ID5 = "id5", "ID5"


class JobStatus(models.TextChoices):
    """Normalised vendor job status; the vendor's own string is kept beside it."""

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SUBMITTED = "submitted", "Submitted"
    PROCESSING = "processing", "Processing"
    COMPLETE = "complete", "Complete"
    PARTIAL = "partial", "Partially complete"
    ERROR = "error", "Error"
    CANCELLED = "cancelled", "Cancelled"
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    MANUAL = "manual", "Manual task"


JOB_ACTIVE = frozenset({JobStatus.SENDING, JobStatus.SUBMITTED, JobStatus.PROCESSING})
JOB_TERMINAL = frozenset(
    {
        JobStatus.COMPLETE,
        JobStatus.PARTIAL,
        JobStatus.ERROR,
        JobStatus.CANCELLED,
        JobStatus.NOT_APPLICABLE,
    }
)
JOB_ENDED_WELL = frozenset({JobStatus.COMPLETE, JobStatus.NOT_APPLICABLE})
# Ended without doing all it was asked: each carries a reason an officer can act on
# (`cases.job_reasons`), and a failed delete keeps a case from closing unconfirmed.
JOB_FAILED = frozenset({JobStatus.ERROR, JobStatus.PARTIAL, JobStatus.CANCELLED})
# Jobs an officer may send again.
JOB_RETRYABLE = frozenset(
    {JobStatus.PENDING, JobStatus.ERROR, JobStatus.PARTIAL, JobStatus.CANCELLED, JobStatus.MANUAL}
)


class ResultStatus(models.TextChoices):
    """Where a job's result file is; only Adobe access jobs produce one."""

    NONE = "", "No result expected"
    PENDING = "pending", "Waiting to download"
    ATTACHED = "attached", "Attached"
    NOT_OFFERED = "not_offered", "Vendor offered no file"
    REJECTED = "rejected", "Rejected"


class IdentityType(models.TextChoices):
    """Adobe's `userIDs[].type` values; ID5 identities use `standard`."""

    STANDARD = "standard", "Standard"
    CUSTOM = "custom", "Custom"
    INTEGRATION_CODE = "integrationCode", "Integration code"
    NAMESPACE_ID = "namespaceId", "Namespace id"
    UNREGISTERED = "unregistered", "Unregistered"
    ANALYTICS = "analytics", "Analytics"
    TARGET = "target", "Target"


# Adobe's standard identity namespaces (lower-cased) and their namespace ids.
ADOBE_STANDARD_NAMESPACES: dict[str, int] = {
    "email": 6,
    "phone": 7,
    "ecid": 4,
    "core": 0,
    "tntid": 9,
    "adcloud": 411,
    "idfa": 20915,
    "gaid": 20914,
    "waid": 8,
}
# ID5's own identifiers; `maid` values come from GAID/IDFA identities.
ID5_NAMESPACES = frozenset({"id5id", "partnerUid"})
MAX_IDENTITIES_PER_USER = 9


class ActorType(models.TextChoices):
    USER = "user", "User"
    API_CLIENT = "api_client", "API client"
    SYSTEM = "system", "System"


# Adobe Privacy Service `include` product codes (case-insensitive at Adobe).
ADOBE_PRODUCTS = (
    "adCloud",
    "analytics",
    "audienceManager",
    "campaign",
    "aepDataLake",
    "AdobeCloudPlatform",
    "profileService",
    "primetimeAuthentication",
    "target",
    "CRS",
    "CJM",
    "identity",
    "marketo",
    "marketomeasure",
)
ADOBE_PRODUCTS_BY_LOWER = {code.lower(): code for code in ADOBE_PRODUCTS}


class RejectionReason(models.TextChoices):
    IDENTITY_NOT_VERIFIED = "identity_not_verified", "Identity could not be verified"
    MANIFESTLY_UNFOUNDED = "manifestly_unfounded", "Manifestly unfounded"
    EXCESSIVE = "excessive", "Excessive or repetitive"
    NO_DATA_HELD = "no_data_held", "No personal data held"
    DUPLICATE = "duplicate", "Duplicate of another request"
    WITHDRAWN = "withdrawn", "Withdrawn by the subject"
    EXEMPT = "exempt", "Exemption applies"
    OTHER = "other", "Other"


class ApiScope(models.TextChoices):
    """What an API key may do. Without `cases:all` a client sees only the cases it opened."""

    CASES_READ = "cases:read", "Read cases and their audit trail"
    CASES_WRITE = "cases:write", "Open and submit cases"
    RESULTS_READ = "results:read", "Download result files"
    CASES_ALL = "cases:all", "Every case, not only the ones this client opened"


class WebhookStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class MessageKind(models.TextChoices):
    """What a message to the data subject is for; each kind has one editable template."""

    ACKNOWLEDGEMENT = "acknowledgement", "Acknowledgement"
    VERIFICATION_REQUEST = "verification_request", "Verification request"
    EXTENSION_NOTICE = "extension_notice", "Extension notice"
    REJECTION = "rejection", "Rejection"
    RESPONSE = "response", "Response"


class MessageStatus(models.TextChoices):
    """Where a message is; why it failed is kept apart, in `Message.last_error`."""

    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


MESSAGE_TERMINAL = frozenset({MessageStatus.SENT, MessageStatus.FAILED})


class VerificationMethod(models.TextChoices):
    """How the subject's identity was checked (README, "Talking to the data subject")."""

    EMAIL_LINK = "email_link", "Email link confirmed by the subject"
    TICKETING_SYSTEM = "ticketing_system", "Vouched for by the ticketing system"
    DOCUMENT = "document", "ID document checked by an officer"
    ACCOUNT_LOGIN = "account_login", "Subject logged in to their account"
    OTHER = "other", "Other"


# Methods whose evidence is the officer's note: without it the record proves nothing.
VERIFICATION_NOTE_REQUIRED = frozenset({VerificationMethod.DOCUMENT, VerificationMethod.OTHER})


class TokenPurpose(models.TextChoices):
    """What a subject portal link is for; a token serves exactly one purpose."""

    VERIFY = "verify", "Identity verification"
    RESPONSE = "response", "Response download"


class TokenState(models.TextChoices):
    """What a portal link is worth when it is used; only `valid` lets the subject act."""

    VALID = "valid", "Valid"
    UNKNOWN = "unknown", "Unknown"
    EXPIRED = "expired", "Expired"
    USED = "used", "Already used"
    REVOKED = "revoked", "Revoked"


class ResponseStatus(models.TextChoices):
    """Where the response package is: regenerated freely as a draft, frozen once sent."""

    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    REVOKED = "revoked", "Link revoked"
