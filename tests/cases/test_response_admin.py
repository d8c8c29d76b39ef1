"""The officers' response steps on the case page: a compliance officer (not a superuser)
prepares, reviews, leaves a file out, sends, revokes and re-issues; an auditor cannot."""

from django.urls import reverse

from cases.choices import ResponseStatus
from cases.models import AuditEvent, Message, PortalToken, ResponsePackage


def step_url(name, case):
    return reverse(f"admin:cases_case_step_{name}", args=[case.pk])


def case_url(case):
    return reverse("admin:cases_case_change", args=[case.pk])


def buttons(html: str) -> list[str]:
    import re

    return re.findall(r'class="button pd-step"[^>]*>([^<]+)<', html)


def test_an_officer_prepares_reviews_and_sends_the_response(client, officer, ready_case):
    assert not officer.is_superuser
    client.force_login(officer)

    page = client.get(case_url(ready_case)).content.decode()
    assert "Prepare response" in buttons(page)
    assert "Send response" not in buttons(page)
    assert client.post(step_url("prepare_response", ready_case)).status_code == 302

    page = client.get(case_url(ready_case)).content.decode()
    assert {"Prepare response", "Leave a file out of the response…", "Send response"} <= set(
        buttons(page))
    package = ResponsePackage.objects.get(case=ready_case)
    assert package.sha256 in page and "Review the response package" in page

    preview = client.get(reverse("admin:cases_case_response", args=[ready_case.pk]))
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "vendor-files/6fc09b53.zip" in html and "deletion_confirmation" in html
    report = client.get(reverse("admin:cases_case_response_report", args=[ready_case.pk]))
    assert report.status_code == 200 and "sandbox" in report["Content-Security-Policy"]
    assert b"&lt;script&gt;" in report.content and b"<script>" not in report.content
    assert AuditEvent.objects.filter(action="response.previewed").count() == 1

    assert client.post(step_url("send_response", ready_case)).status_code == 302
    package.refresh_from_db()
    assert package.status == ResponseStatus.SENT
    assert Message.objects.filter(case=ready_case, kind="response").count() == 1
    page = client.get(case_url(ready_case)).content.decode()
    assert "0 of 5 downloads used, 5 left" in page and "Not downloaded yet." in page
    assert "Revoke response link" in buttons(page) and "Re-issue response link" in buttons(page)
    assert "Prepare response" not in buttons(page)


def test_leave_a_file_out_from_the_case_page(client, officer, ready_case):
    client.force_login(officer)
    client.post(step_url("prepare_response", ready_case))
    result = ready_case.results.get()

    form = client.get(step_url("leave_out", ready_case)).content.decode()
    missing = client.post(step_url("leave_out", ready_case), {"file": f"result:{result.pk}"})
    done = client.post(step_url("leave_out", ready_case), {
        "file": f"result:{result.pk}", "reason": "Another customer's data"})

    assert "6fc09b53.zip" in form
    assert missing.status_code == 200 and missing.context["form"].errors["reason"]
    assert done.status_code == 302
    package = ResponsePackage.objects.get(case=ready_case)
    assert [r["path"] for r in package.manifest if r["path"].startswith("vendor-files/")] == []
    assert "Another customer&#x27;s data" in client.get(case_url(ready_case)).content.decode()


def test_revoke_and_reissue_from_the_case_page(client, officer, ready_case):
    client.force_login(officer)
    client.post(step_url("prepare_response", ready_case))
    client.post(step_url("send_response", ready_case))

    client.post(step_url("revoke_response", ready_case))
    page = client.get(case_url(ready_case)).content.decode()
    assert "Revoke response link" not in buttons(page)
    client.post(step_url("reissue_response", ready_case))

    tokens = PortalToken.objects.filter(case=ready_case, purpose="response")
    assert tokens.count() == 2 and tokens.filter(revoked_at__isnull=True).count() == 1
    assert AuditEvent.objects.filter(action="response.link_revoked").count() == 1


def test_an_auditor_sees_the_response_but_no_buttons(client, auditor, officer, ready_case):
    client.force_login(officer)
    client.post(step_url("prepare_response", ready_case))
    client.force_login(auditor)

    page = client.get(case_url(ready_case)).content.decode()

    assert "Prepare response" not in buttons(page)
    assert client.post(step_url("send_response", ready_case)).status_code == 403
    assert client.get(reverse("admin:cases_case_response", args=[ready_case.pk])).status_code \
        == 403
    assert ResponsePackage.objects.get(case=ready_case).status == ResponseStatus.DRAFT


def test_a_new_case_offers_no_response_step(client, officer, make_case):
    client.force_login(officer)
    case = make_case()

    page = client.get(case_url(case)).content.decode()

    assert "Prepare response" not in buttons(page)
    assert "Not prepared yet." in page
    refused = client.post(step_url("prepare_response", case), follow=True)
    assert "once the vendors have answered" in refused.content.decode()


def test_the_response_line_says_when_the_link_was_revoked(client, officer, ready_case):
    client.force_login(officer)
    client.post(step_url("prepare_response", ready_case))
    client.post(step_url("send_response", ready_case))
    client.post(step_url("revoke_response", ready_case))

    page = client.get(case_url(ready_case)).content.decode()

    assert "Link revoked: 0 of 5 downloads used." in page and "5 left" not in page
