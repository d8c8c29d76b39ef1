"""Which vendor jobs a case needs (PRODUCT.md, "Routing a case to vendors").

Pure planning: it reads the case and settings and says what to create; `services.submit_case`
writes the jobs. Data Hygiene is deliberately absent: it is not for DSARs and has its own action.
"""

from dataclasses import dataclass, field

from django.conf import settings

from cases.choices import ID5_NAMESPACES, Action, JobStatus, Regulation, Vendor
from cases.models import Case, Identity
from connectors import adobe_privacy

HYGIENE_NOTICE = (
    "Adobe Data Hygiene record deletes are for data cleansing and minimisation. Adobe states they "
    "are not for GDPR/CCPA data subject requests, which go through Privacy Service (already part "
    "of this case's submission). Use this only to remove records the business should not keep."
)
# ID5 knows two jurisdictions; other regulations are not applicable unless an officer picks one.
ID5_JURISDICTIONS = {
    Regulation.GDPR: "GDPR",
    Regulation.CCPA: "CCPA",
    Regulation.CPRA_CA_USA: "CCPA",
}
# Identities ID5 can act on (docs/vendors.md, ID5); GAID/IDFA travel as `maid`.
ID5_IDENTITY_NAMESPACES = frozenset({"email", "gaid", "idfa"}) | ID5_NAMESPACES


@dataclass(frozen=True)
class PlannedJob:
    vendor: str
    action: str
    status: str = JobStatus.PENDING
    products: list[str] = field(default_factory=list)
    jurisdiction: str = ""
    reason: str = ""


def _wants(case: Case, vendor: str) -> bool:
    return not case.vendors or vendor in case.vendors


def plan_adobe(case: Case) -> list[PlannedJob]:
    products = list(case.adobe_products or settings.ADOBE_DEFAULT_PRODUCTS)
    reason = "" if products else (
        "No Adobe product codes: choose products on the case or set ADOBE_DEFAULT_PRODUCTS."
    )
    identities = [i for i in _identities(case) if i.namespace not in ID5_NAMESPACES]
    if not identities:
        return [
            PlannedJob(Vendor.ADOBE_PRIVACY, action, JobStatus.NOT_APPLICABLE,
                       reason="The case has no identity Adobe can look up.")
            for action in case.action_list
        ]
    return [
        PlannedJob(Vendor.ADOBE_PRIVACY, action, products=products, reason=reason)
        for action in case.action_list
    ]


def plan_id5(case: Case) -> list[PlannedJob]:
    jobs = []
    if Action.ACCESS in case.action_list:
        jobs.append(PlannedJob(
            Vendor.ID5, Action.ACCESS, JobStatus.MANUAL,
            reason="ID5 has no access API: ask ID5 by email and attach their answer.",
        ))
    if Action.DELETE in case.action_list:
        jobs.append(_plan_id5_delete(case))
    return jobs


def _plan_id5_delete(case: Case) -> PlannedJob:
    jurisdiction = case.id5_jurisdiction or ID5_JURISDICTIONS.get(case.regulation, "")
    if not jurisdiction:
        return PlannedJob(
            Vendor.ID5, Action.DELETE, JobStatus.NOT_APPLICABLE,
            reason=f"ID5 deletes under GDPR or CCPA only, not {case.regulation}; "
            "pick an ID5 jurisdiction on the case to send it anyway.",
        )
    if not any(i.namespace in ID5_IDENTITY_NAMESPACES for i in _identities(case)):
        return PlannedJob(
            Vendor.ID5, Action.DELETE, JobStatus.NOT_APPLICABLE,
            reason="The case has no email, ID5 id, mobile advertising id or partner user id.",
        )
    return PlannedJob(Vendor.ID5, Action.DELETE, jurisdiction=jurisdiction)


def _identities(case: Case) -> list[Identity]:
    return list(Identity.objects.filter(subject__case=case))


def plan_case(case: Case) -> list[PlannedJob]:
    jobs: list[PlannedJob] = []
    if _wants(case, Vendor.ADOBE_PRIVACY):
        jobs += plan_adobe(case)
    if _wants(case, Vendor.ID5):
        jobs += plan_id5(case)
    return jobs


def with_cjm_upstream(products: list[str], action: str) -> tuple[list[str], list[str]]:
    """The products a job really needs, and those added by the Journey Optimizer rule."""
    final, added = adobe_privacy.with_cjm_upstream(products, action == Action.DELETE)
    return list(final), list(added)
