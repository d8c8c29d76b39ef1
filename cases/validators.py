"""Validation of intake data, shared by services, admin forms and the REST API.

Each check raises Django's ValidationError keyed by field, with a message an officer or a
ticketing integrator can act on.
"""

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from cases.choices import (
    ADOBE_PRODUCTS,
    ADOBE_PRODUCTS_BY_LOWER,
    ADOBE_STANDARD_NAMESPACES,
    ID5_NAMESPACES,
    MAX_IDENTITIES_PER_USER,
    IdentityType,
    Vendor,
    regulation_error,
)

_NAMESPACE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
MAX_IDENTITY_LENGTH = 1000
# ID5 ids come encrypted ("ID5*...") or decrypted ("ID5-..."): docs/vendors.md, ID5.
_ID5ID_RE = re.compile(r"^ID5[*-][A-Za-z0-9_.*+/=-]{4,}$")
INTAKE_VENDORS = (Vendor.ADOBE_PRIVACY, Vendor.ID5)


def validate_regulation(code: str) -> None:
    message = regulation_error(code)
    if message:
        raise ValidationError({"regulation": message})


def receipt_age_error(received_at: dt.datetime) -> str | None:
    """Why a receipt date is too old to take (MAX_RECEIPT_AGE_DAYS), or None.

    A mistyped year would open a case years overdue; backdating within the limit is allowed.
    """
    limit = settings.MAX_RECEIPT_AGE_DAYS
    earliest = timezone.localdate() - dt.timedelta(days=limit)
    received_on = timezone.localdate(received_at)
    if received_on >= earliest:
        return None
    return (
        f"The receipt date {received_on} is more than {limit} days ago; check the year. "
        f"Receipt dates from {earliest} on are accepted (MAX_RECEIPT_AGE_DAYS)."
    )


def _identity_error(namespace: str, value: str, id_type: str) -> str | None:
    if not _NAMESPACE_RE.match(namespace):
        return f"'{namespace}' is not a valid namespace (letters, digits, '_', '.', '-')."
    if id_type not in IdentityType.values:
        return f"Unknown identity type '{id_type}'; use one of {', '.join(IdentityType.values)}."
    if not value or not value.strip():
        return f"The {namespace} identity has an empty value."
    if len(value) > MAX_IDENTITY_LENGTH:
        return f"The {namespace} identity is longer than {MAX_IDENTITY_LENGTH} characters."
    lowered = namespace.lower()
    standard = lowered in ADOBE_STANDARD_NAMESPACES or namespace in ID5_NAMESPACES
    if not standard and id_type == IdentityType.STANDARD:
        # Adobe answers "Invalid Namespace" when a custom namespace is sent as standard.
        return f"'{namespace}' is not a standard namespace: send it with type 'custom'."
    return _value_error(lowered, value.strip())


def _value_error(namespace: str, value: str) -> str | None:
    if namespace == "email":
        try:
            validate_email(value)
        except ValidationError:
            return "The email identity is not a valid email address."
    elif namespace in ("gaid", "idfa"):
        try:
            uuid.UUID(value)
        except ValueError:
            example = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
            return f"A {namespace.upper()} must be a UUID such as {example}."
    elif namespace == "id5id" and not _ID5ID_RE.match(value):
        return "An ID5 id starts with 'ID5*' (encrypted) or 'ID5-' (decrypted)."
    return None


def validate_identities(
    identities: Iterable[Mapping[str, str]], *, labels: Sequence[str] = ()
) -> list[dict[str, str]]:
    """Check the identity list and return it cleaned (values trimmed, type defaulted).

    Each problem is named "Identity N" or, given `labels`, by its label (e.g. "Line 3").
    """
    cleaned, errors, seen = [], [], set()
    for position, raw in enumerate(identities, start=1):
        label = labels[position - 1] if labels else f"Identity {position}"
        namespace = str(raw.get("namespace", "")).strip()
        value = str(raw.get("value", ""))
        id_type = str(raw.get("type") or IdentityType.STANDARD)
        error = _identity_error(namespace, value, id_type)
        key = (namespace.lower(), value.strip().casefold())
        if not error and key in seen:
            error = f"The {namespace} identity is listed twice."
        if error:
            errors.append(f"{label}: {error}")
            continue
        seen.add(key)
        cleaned.append({"namespace": namespace, "value": value.strip(), "type": id_type})
    if not cleaned and not errors:
        errors.append("At least one identity is required.")
    adobe_bound = [i for i in cleaned if i["namespace"] not in ID5_NAMESPACES]
    if len(adobe_bound) > MAX_IDENTITIES_PER_USER:
        errors.append(
            f"Adobe accepts at most {MAX_IDENTITIES_PER_USER} identities per user; "
            f"this request has {len(adobe_bound)}."
        )
    if errors:
        raise ValidationError({"identities": errors})
    return cleaned


def validate_vendors(vendors: Iterable[str]) -> list[str]:
    vendors = list(dict.fromkeys(vendors))
    unknown = [str(v) for v in vendors if v not in INTAKE_VENDORS]
    if unknown:
        raise ValidationError(
            {
                "vendors": f"Unknown or non-DSAR {_noun(unknown, 'vendor')}: "
                f"{', '.join(unknown)}. Use one of: {', '.join(INTAKE_VENDORS)} "
                "(Data Hygiene is a separate officer action)."
            }
        )
    return vendors


def validate_adobe_products(products: Iterable[str]) -> list[str]:
    """Known Adobe product codes, canonically spelt (Adobe matches them case-insensitively)."""
    cleaned, unknown = [], []
    for code in products:
        canonical = ADOBE_PRODUCTS_BY_LOWER.get(str(code).lower())
        if canonical is None:
            unknown.append(str(code))
        elif canonical not in cleaned:
            cleaned.append(canonical)
    if unknown:
        raise ValidationError(
            {
                "adobe_products": f"Unknown Adobe product {_noun(unknown, 'code')}: "
                f"{', '.join(unknown)}. Use one of: {', '.join(ADOBE_PRODUCTS)}."
            }
        )
    return cleaned


def _noun(items: list[str], word: str) -> str:
    return word if len(items) == 1 else f"{word}s"
