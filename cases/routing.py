"""Which vendor jobs a case needs, and why (README, "How a case travels", step 3).

Pure planning: it reads the case and settings and decides, per vendor and action, whether a job
is created and why. `plan_case` hands `services.submit_case` the jobs to write; `decide_case`
gives the case page the very same decisions with their reasons, so the two cannot drift. Data
Hygiene is never planned: it is not for DSARs and has its own action. Reasons name identity
namespaces, never values.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings

from cases import vendors
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
# ID5_ACCESS_REQUESTS (settings): what an ID5 access request becomes, since ID5 has no access API.
ID5_ACCESS_MANUAL = "manual"
ID5_ACCESS_NOT_APPLICABLE = "not_applicable"
ID5_ACCESS_CHOICES = (ID5_ACCESS_MANUAL, ID5_ACCESS_NOT_APPLICABLE)
ID5_ACCESS_MANUAL_REASON = (
    "ID5 has no access API; ID5_ACCESS_REQUESTS=manual asks an officer to request the data from "
    "ID5 by email, then mark this task done with a note of ID5's answer."
)
ID5_ACCESS_NOT_APPLICABLE_REASON = (
    "ID5 has no access API; ID5_ACCESS_REQUESTS=not_applicable records ID5 access requests as "
    "not applicable, so nobody asks ID5."
)


@dataclass(frozen=True)
class PlannedJob:
    vendor: str
    action: str
    status: str = JobStatus.PENDING
    products: list[str] = field(default_factory=list)
    jurisdiction: str = ""
    reason: str = ""  # stored on the job: what stops it, or what the officer must do


@dataclass(frozen=True)
class Decision:
    """Routing's answer for one vendor and action: the job to create (None: no job) and why."""

    vendor: str
    action: str
    job: PlannedJob | None
    why: str

    @property
    def vendor_label(self) -> str:
        return Vendor(self.vendor).label


def _wants(case: Case, vendor: str) -> bool:
    return not case.vendors or vendor in case.vendors


def _namespaces(identities: Iterable[Identity]) -> str:
    return ", ".join(sorted({identity.namespace for identity in identities})) or "none"


def _credentials(vendor: str) -> str:
    missing = vendors.not_configured_reason(vendor)
    return f"{missing} The job waits until then." if missing else "Credentials are configured."


def _decide_adobe(case: Case, identities: list[Identity]) -> list[Decision]:
    adobe_ids = [i for i in identities if i.namespace not in ID5_NAMESPACES]
    if not adobe_ids:
        reason = "The case has no identity Adobe can look up."
        why = f"{reason} Its identities: {_namespaces(identities)}."
        return [
            Decision(Vendor.ADOBE_PRIVACY, action,
                     PlannedJob(Vendor.ADOBE_PRIVACY, action, JobStatus.NOT_APPLICABLE,
                                reason=reason), why)
            for action in case.action_list
        ]
    products = list(case.adobe_products or settings.ADOBE_DEFAULT_PRODUCTS)
    source = "chosen on the case" if case.adobe_products else "from ADOBE_DEFAULT_PRODUCTS"
    reason = "" if products else (
        "No Adobe product codes: choose products on the case or set ADOBE_DEFAULT_PRODUCTS."
    )
    decisions = []
    for action in case.action_list:
        why = [f"Adobe Privacy Service takes {action} requests under {case.regulation}; "
               f"identities sent: {_namespaces(adobe_ids)}."]
        if products:
            final, added = with_cjm_upstream(products, action)
            extra = f"; {', '.join(added)} added because a CJM delete needs them" if added else ""
            why.append(f"Products: {', '.join(final)} ({source}{extra}).")
        else:
            why.append(reason)
        why.append(_credentials(Vendor.ADOBE_PRIVACY))
        planned = PlannedJob(Vendor.ADOBE_PRIVACY, action, products=products, reason=reason)
        decisions.append(Decision(Vendor.ADOBE_PRIVACY, action, planned, " ".join(why)))
    return decisions


def _decide_id5(case: Case, identities: list[Identity]) -> list[Decision]:
    decisions = []
    if Action.ACCESS in case.action_list:
        decisions.append(_decide_id5_access())
    if Action.DELETE in case.action_list:
        decisions.append(_decide_id5_delete(case, identities))
    return decisions


def _decide_id5_access() -> Decision:
    if settings.ID5_ACCESS_REQUESTS == ID5_ACCESS_NOT_APPLICABLE:
        reason = ID5_ACCESS_NOT_APPLICABLE_REASON
        planned = PlannedJob(Vendor.ID5, Action.ACCESS, JobStatus.NOT_APPLICABLE, reason=reason)
        why = f"{reason} Set ID5_ACCESS_REQUESTS=manual to have an officer ask ID5 by email."
    else:
        reason = ID5_ACCESS_MANUAL_REASON
        planned = PlannedJob(Vendor.ID5, Action.ACCESS, JobStatus.MANUAL, reason=reason)
        why = (f"{reason} The case needs action until the task is done; set "
               "ID5_ACCESS_REQUESTS=not_applicable to record ID5 access requests as not "
               "applicable instead.")
    return Decision(Vendor.ID5, Action.ACCESS, planned, why)


def _decide_id5_delete(case: Case, identities: list[Identity]) -> Decision:
    if case.id5_jurisdiction:
        jurisdiction, source = case.id5_jurisdiction, "picked by an officer"
    else:
        jurisdiction = ID5_JURISDICTIONS.get(case.regulation, "")
        source = f"from regulation {case.regulation}"
    if not jurisdiction:
        reason = (f"ID5 deletes under GDPR or CCPA only, not {case.regulation}; "
                  "pick an ID5 jurisdiction on the case to send it anyway.")
        return _id5_not_applicable(reason, "ID5 maps gdpr to GDPR, ccpa and cpra_ca_usa to CCPA.")
    usable = [i for i in identities if i.namespace in ID5_IDENTITY_NAMESPACES]
    if not usable:
        reason = "The case has no email, ID5 id, mobile advertising id or partner user id."
        return _id5_not_applicable(reason, f"Its identities: {_namespaces(identities)}.")
    why = (f"ID5 deletes under jurisdiction {jurisdiction} ({source}); identities sent: "
           f"{_namespaces(usable)} (GAID/IDFA as maid). {_credentials(Vendor.ID5)}")
    planned = PlannedJob(Vendor.ID5, Action.DELETE, jurisdiction=jurisdiction)
    return Decision(Vendor.ID5, Action.DELETE, planned, why)


def _id5_not_applicable(reason: str, more: str) -> Decision:
    planned = PlannedJob(Vendor.ID5, Action.DELETE, JobStatus.NOT_APPLICABLE, reason=reason)
    return Decision(Vendor.ID5, Action.DELETE, planned, f"{reason} {more}")


def _left_out(case: Case, vendor: str, action: str) -> Decision:
    named = ", ".join(Vendor(v).label for v in case.vendors)
    why = (f"The case's routing names only {named}, so {Vendor(vendor).label} gets no job "
           "(Change routing before submitting to add it).")
    return Decision(vendor, action, None, why)


def _identities(case: Case) -> list[Identity]:
    return list(Identity.objects.filter(subject__case=case).only("namespace", "subject_id"))


def decide_case(case: Case) -> list[Decision]:
    """Every routing decision for the case, with jobs to create and the reasons, in order."""
    identities = _identities(case)
    decisions: list[Decision] = []
    for vendor, decide in ((Vendor.ADOBE_PRIVACY, _decide_adobe), (Vendor.ID5, _decide_id5)):
        if _wants(case, vendor):
            decisions += decide(case, identities)
        else:
            decisions += [_left_out(case, vendor, action) for action in case.action_list]
    if Action.DELETE in case.action_list:
        decisions.append(Decision(
            Vendor.ADOBE_HYGIENE, Action.DELETE, None,
            "Never part of a submission: Adobe says record deletes are for data minimisation, "
            "not DSARs. An officer may still ask for one with the Data Hygiene record delete "
            "action.",
        ))
    return decisions


def plan_case(case: Case) -> list[PlannedJob]:
    return [decision.job for decision in decide_case(case) if decision.job is not None]


def with_cjm_upstream(products: list[str], action: str) -> tuple[list[str], list[str]]:
    """The products a job really needs, and those added by the Journey Optimizer rule."""
    final, added = adobe_privacy.with_cjm_upstream(products, action == Action.DELETE)
    return list(final), list(added)
