"""Routing: which jobs a case gets, the ID5_ACCESS_REQUESTS setting, and the explanation."""

import pytest

from cases import routing, services
from cases.choices import CaseStatus, JobStatus, Vendor
from cases.models import VendorJob

ADA = [
    {"namespace": "email", "value": "ada.lovelace@example.org"},
    {"namespace": "ecid", "value": "44363657679975868102109072127"},
]


@pytest.fixture
def configured(settings):
    settings.ADOBE_CLIENT_ID, settings.ADOBE_CLIENT_SECRET = "client", "secret"
    settings.ADOBE_ORG_ID = "ORG@AdobeOrg"
    settings.ID5_PARTNER_ID, settings.ID5_TOKEN = "173", "token"
    settings.ADOBE_DEFAULT_PRODUCTS = ["analytics"]


def submit(make_case, system_actor, **overrides):
    case = services.verify_identity(make_case(identities=ADA, **overrides), actor=system_actor,
                                    method="account_login")
    services.submit_case(case, actor=system_actor)
    case.refresh_from_db()
    return case


def id5_access(case) -> VendorJob:
    return VendorJob.objects.get(case=case, vendor=Vendor.ID5, action="access")


def test_id5_access_is_a_manual_task_by_default_and_asks_for_no_attachment(
    make_case, system_actor, configured
):
    case = submit(make_case, system_actor, actions=["access"], vendors=["id5"])
    task = id5_access(case)
    assert task.status == JobStatus.MANUAL
    assert "ID5_ACCESS_REQUESTS=manual asks an officer to request the data from ID5 by email" in (
        task.last_error
    )
    assert "attach" not in task.last_error.lower()
    assert case.status == CaseStatus.ACTION_REQUIRED


def test_id5_access_not_applicable_setting_leaves_nothing_to_do(
    make_case, system_actor, configured, settings
):
    settings.ID5_ACCESS_REQUESTS = "not_applicable"
    case = submit(make_case, system_actor, actions=["access"], vendors=["id5"])
    job = id5_access(case)
    assert job.status == JobStatus.NOT_APPLICABLE
    assert "ID5_ACCESS_REQUESTS=not_applicable" in job.last_error
    assert case.status == CaseStatus.COMPLETED


def test_explanation_covers_every_vendor_and_action_with_its_reason(
    make_case, configured, settings
):
    settings.ID5_TOKEN = ""
    case = make_case(regulation="ccpa", identities=ADA)
    by_key = {(d.vendor, d.action): d for d in routing.decide_case(case)}
    assert set(by_key) == {
        (Vendor.ADOBE_PRIVACY, "access"), (Vendor.ADOBE_PRIVACY, "delete"),
        (Vendor.ID5, "access"), (Vendor.ID5, "delete"), (Vendor.ADOBE_HYGIENE, "delete"),
    }
    adobe = by_key[(Vendor.ADOBE_PRIVACY, "delete")].why
    assert "under ccpa" in adobe and "identities sent: ecid, email" in adobe
    assert "analytics (from ADOBE_DEFAULT_PRODUCTS)" in adobe
    assert "Credentials are configured" in adobe
    id5_delete = by_key[(Vendor.ID5, "delete")].why
    assert "jurisdiction CCPA (from regulation ccpa)" in id5_delete
    assert "set ID5_TOKEN" in id5_delete  # the missing credential, named
    assert "ID5_ACCESS_REQUESTS=manual" in by_key[(Vendor.ID5, "access")].why
    assert by_key[(Vendor.ADOBE_HYGIENE, "delete")].job is None
    text = " ".join(d.why for d in by_key.values())
    assert "ada.lovelace" not in text and "44363657679975868102109072127" not in text


def test_explanation_says_why_a_vendor_gets_no_job(make_case, configured):
    case = make_case(regulation="lgpd_bra", actions=["delete"], identities=ADA[1:],
                     vendors=["id5"])
    by_key = {(d.vendor, d.action): d for d in routing.decide_case(case)}
    left_out = by_key[(Vendor.ADOBE_PRIVACY, "delete")]
    assert left_out.job is None and "names only ID5" in left_out.why
    id5 = by_key[(Vendor.ID5, "delete")]
    assert id5.job.status == JobStatus.NOT_APPLICABLE
    assert "not lgpd_bra" in id5.why


@pytest.mark.parametrize("access_setting", ["manual", "not_applicable"])
def test_submission_creates_exactly_the_jobs_the_explanation_announces(
    make_case, system_actor, configured, settings, access_setting
):
    settings.ID5_ACCESS_REQUESTS = access_setting
    cases = [
        make_case(identities=ADA),
        make_case(regulation="lgpd_bra", identities=ADA, adobe_products=["CJM"]),
        make_case(actions=["access"], identities=[{"namespace": "id5id", "value": "ID5-ab12"}]),
    ]
    for case in cases:
        announced = {
            (d.vendor, d.action, d.job.status) for d in routing.decide_case(case) if d.job
        }
        services.submit_case(
            services.verify_identity(case, actor=system_actor, method="account_login"),
            actor=system_actor)
        made = set(VendorJob.objects.filter(case=case).values_list("vendor", "action", "status"))
        assert made == announced
