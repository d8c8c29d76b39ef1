"""An officer reads why each vendor job exists on the case page and follows a job to its page."""

import re

import pytest

from cases import services, tasks
from cases.choices import Vendor
from cases.models import VendorJob
from tests.browser.pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_officer_reads_the_routing_and_opens_a_job_page(
    browser_page, live_server, vendor_sandbox, officer, make_case, system_actor
):
    case = make_case(
        regulation="gdpr",
        actions=["access", "delete"],
        identities=[
            {"namespace": "email", "value": "grace.hopper@example.org"},
            {"namespace": "ecid", "value": "44363657679975868102109072127"},
        ],
    )
    services.submit_case(services.verify_identity(case, actor=system_actor,
                                                  method="account_login"), actor=system_actor)
    tasks.send_pending_jobs()
    id5_delete = VendorJob.objects.get(case=case, vendor=Vendor.ID5, action="delete")
    page = browser_page

    log_in(page, live_server, officer.username)
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")

    routing = page.locator("#pd-routing")
    assert routing.is_visible()
    assert "jurisdiction GDPR (from regulation gdpr)" in routing.inner_text()
    assert "ID5_ACCESS_REQUESTS=manual" in routing.inner_text()
    assert "grace.hopper" not in routing.inner_text()  # namespaces only, never values

    page.click("td.field-job_link >> text=ID5 delete")
    page.wait_for_url(re.compile(rf"/admin/cases/vendorjob/{id5_delete.pk}/change/"))
    assert page.locator(f"text=ID5 delete for {case.reference}").first.is_visible()
    assert page.locator(f"text={id5_delete.vendor_job_id}").first.is_visible()
    page.click(f"a:has-text('{case.reference}')")
    page.wait_for_url(re.compile(rf"/admin/cases/case/{case.pk}/change/"))
