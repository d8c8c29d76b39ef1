"""The sandbox's own copy of the vendors' code lists (docs/vendors.md).

Deliberately not shared with the connectors: a simulator that imports the client's tables cannot
catch a mistake in them.
"""

from __future__ import annotations

from dataclasses import dataclass

# Privacy Service regulation codes (docs/vendors.md, "Regulation codes").
REGULATIONS = frozenset(
    {
        "apa_aus",
        "ccpa",
        "cpa_co_usa",
        "cpra_ca_usa",
        "ctdpa_ct_usa",
        "dpdpa_de_usa",
        "fdbr_fl_usa",
        "gdpr",
        "hipaa_usa",
        "icdpa_ia_usa",
        "lgpd_bra",
        "mcdpa_mn_usa",
        "mcdpa_mt_usa",
        "mhmda_wa_usa",
        "modpa_md_usa",
        "ndpa_ne_usa",
        "nhpa_nh_usa",
        "njdpa_nj_usa",
        "nzpa_nzl",
        "ocpa_or_usa",
        "pdpa_tha",
        "pipa_kor",
        "ql25_qc_can",
        "tdpsa_tx_usa",
        "tipa_tn_usa",
        "ucpa_ut_usa",
        "vcdpa_va_usa",
    }
)

# Codes without the state suffix stopped working after 2025-07-28.
RETIRED_REGULATIONS = {
    "cpra_usa": "cpra_ca_usa",
    "vcdpa_usa": "vcdpa_va_usa",
    "ucpa_usa": "ucpa_ut_usa",
    "cpa": "cpa_co_usa",
    "ctdpa": "ctdpa_ct_usa",
}


@dataclass(frozen=True)
class Product:
    """A Privacy Service product: API code, name in productResponses, file in the result ZIP."""

    code: str
    name: str
    filename: str


_PRODUCT_LIST = [
    Product("adCloud", "AdCloud", "adcloud.json"),
    Product("analytics", "Analytics", "data.json"),
    Product("audienceManager", "AudienceManager", "segments.json"),
    Product("campaign", "Campaign", "profile.json"),
    Product("aepDataLake", "AdobeCloudPlatform", "datalake.json"),
    Product("profileService", "Profile", "profile.json"),
    Product("primetimeAuthentication", "PrimetimeAuthentication", "authentication.json"),
    Product("target", "Target", "profile.json"),
    Product("CRS", "CRS", "profile.json"),
    Product("CJM", "JourneyOptimizer", "messages.json"),
    Product("identity", "Identity", "identities.json"),
    Product("marketo", "Marketo", "leads.json"),
    Product("marketomeasure", "MarketoMeasure", "data.json"),
]

# Product codes are case-insensitive; `AdobeCloudPlatform` is the older name of `aepDataLake`.
PRODUCTS: dict[str, Product] = {p.code.lower(): p for p in _PRODUCT_LIST}
PRODUCTS["adobecloudplatform"] = PRODUCTS["aepdatalake"]

# A CJM delete needs these upstream products too, else the CJM job stays `processing` forever
# (docs/vendors.md [JO-PRIVACY], Journey Optimizer privacy requests).
CJM_UPSTREAM = ("profileService", "aepDataLake", "identity")

USER_ID_TYPES = frozenset(
    {"standard", "custom", "integrationCode", "namespaceId", "unregistered", "analytics", "target"}
)

# Standard namespaces (lower-cased) → namespaceId.
STANDARD_NAMESPACES = {
    "email": 6,
    "phone": 7,
    "ecid": 4,
    "core": 0,
    "tntid": 9,
    "adcloud": 411,
    "idfa": 20915,
    "gaid": 20914,
    "waid": 8,
    "aaid": 10,
}

PRIVACY_ACTIONS = ("access", "delete")
PRIVACY_STATUSES = ("submitted", "processing", "complete", "error")

# Privacy Service result codes used by the sandbox: (responseMsgCode, message, detail).
PRVCY_SUCCESS = ("PRVCY-6000-200", "Success", "Finished successfully.")
PRVCY_NOT_FOUND = ("PRVCY-6052-200", "User IDs were not found.", "No data found for the IDs.")
PRVCY_JOB_FAILURE = ("PRVCY-1021-400", "Job failure", "The job failed in the product.")
PRVCY_DATA_ACCESS = ("PRVCY-1022-400", "Data access failure", "The product could not read data.")

# Data Hygiene.
HYGIENE_ACTIONS = frozenset({"delete_identity", "delete-identity", "identity-delete"})
HYGIENE_SERVICES = {
    "datalake": "Data Management",
    "identity": "Identity Service",
    "profile": "Profile Service",
    "ajo": "Journey Optimizer",
}
HYGIENE_DEFAULT_SERVICES = ["datalake", "identity", "profile"]

# ID5.
ID5_JURISDICTIONS = frozenset({"GDPR", "CCPA"})
ID5_IDENTIFIERS = ("email", "id5id", "maid", "partnerUid")

# Sandbox conventions (not vendor facts): a marker anywhere in a user key / identity value /
# display name makes the job end that way. See README.md "Triggering outcomes".
MARKERS = (
    "sandbox-error",
    "sandbox-partial",
    "sandbox-nodata",
    "sandbox-stuck",
    "sandbox-send-failed",
    "sandbox-failed",
)
