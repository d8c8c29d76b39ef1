"""The role matrix: each role × each sensitive page or action → what it gets, from ONE table.

"200"/"403" are the answer; "shown"/"hidden" say whether the subject's contact data (email,
identity value) is on the page (which then answers 200). Every refusal on a case's page is
audited as `access.denied` on that case.
"""

import datetime as dt

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from cases import messaging, notes
from cases.audit import Actor
from cases.choices import MessageKind
from cases.groups import ADMINISTRATOR
from cases.models import AuditEvent, Message, ResultFile, VendorJob

EMAIL = "ada.lovelace@example.org"
ECID = "44363657679975868102109072127"  # an identity value of conftest's default case

ROLES = ("officer", "auditor", "auditor_with_contact", "administrator")

# action → the expected outcome for each role, in ROLES order.
MATRIX = {
    "case page": ("200", "200", "200", "403"),
    "subject email on the case page": ("shown", "hidden", "shown", "403"),
    "identity value on the case page": ("shown", "hidden", "shown", "403"),
    "subject page": ("200", "403", "200", "403"),
    "message recipient": ("shown", "hidden", "shown", "403"),
    "result file download": ("200", "403", "403", "403"),
    "attachment download": ("200", "403", "403", "403"),
    "case file": ("shown", "hidden", "shown", "403"),
    "audit trail": ("200", "200", "200", "403"),
    "audit export": ("200", "200", "200", "403"),
    "sign-in lockouts (unlock)": ("403", "403", "403", "200"),
    "task queue": ("403", "403", "403", "200"),
}
CASES = [
    pytest.param(action, role, expected, id=f"{role}: {action}")
    for action, outcomes in MATRIX.items()
    for role, expected in zip(ROLES, outcomes, strict=True)
]


@pytest.fixture
def world(make_case, settings, tmp_path):
    """One case with everything sensitive: a message, a result file and an attachment."""
    settings.MEDIA_ROOT = tmp_path
    system = Actor.system("tests")
    case = make_case()
    message = messaging.queue_message(case, MessageKind.ACKNOWLEDGEMENT, actor=system)
    result = ResultFile(case=case, job=VendorJob.objects.filter(case=case).first(),
                        name="r.zip", size=3, sha256="a" * 64, downloaded_at=timezone.now(),
                        purge_after=timezone.now() + dt.timedelta(days=90))
    result.file.save("r.zip", ContentFile(b"PK!"), save=True)
    attachment = notes.add_attachment(
        case, actor=system, upload=SimpleUploadedFile("letter.txt", b"scanned letter")
    )
    return {"case": case, "message": message or Message.objects.get(case=case),
            "result": result, "attachment": attachment}


def _user(role: str, settings) -> User:
    user = User.objects.create_user(role, is_staff=True)
    group = {"officer": "Compliance officer", "administrator": ADMINISTRATOR}.get(role, "Auditor")
    user.groups.add(Group.objects.get(name=group))
    settings.AUDITOR_SEES_CONTACT_DATA = role == "auditor_with_contact"
    return user


def _page(client, url: str, *needles: str) -> str:
    response = client.get(url)
    if response.status_code != 200:
        return str(response.status_code)
    body = (b"".join(response.streaming_content) if response.streaming
            else response.content)
    if not needles:
        return "200"
    if response.get("Content-Type") == "application/zip":
        import io
        import zipfile

        body = zipfile.ZipFile(io.BytesIO(body)).read("summary.html")
    return "shown" if all(n.encode() in body for n in needles) else "hidden"


def _act(action: str, client, world) -> str:
    case, message = world["case"], world["message"]
    case_page = reverse("admin:cases_case_change", args=[case.pk])
    pages = {
        "case page": (case_page,),
        "subject email on the case page": (case_page, EMAIL),
        "identity value on the case page": (case_page, ECID),
        "subject page": (reverse("admin:cases_datasubject_change", args=[case.subject.pk]),),
        "message recipient": (reverse("admin:cases_message_change", args=[message.pk]), EMAIL),
        "result file download": (
            reverse("admin:cases_case_result_download", args=[case.pk, world["result"].pk]),
        ),
        "attachment download": (
            reverse("admin:cases_case_attachment_download",
                    args=[case.pk, world["attachment"].pk]),
        ),
        "case file": (reverse("admin:cases_case_case_file", args=[case.pk]), EMAIL),
        "audit trail": (reverse("admin:cases_auditevent_changelist"),),
        "audit export": (reverse("admin:cases_auditevent_export") + "?format=csv",),
        "sign-in lockouts (unlock)": (reverse("admin:axes_accessattempt_changelist"),),
        "task queue": (reverse("admin:django_q_schedule_changelist"),),
    }
    return _page(client, *pages[action])


@pytest.mark.parametrize(("action", "role", "expected"), CASES)
def test_role_matrix(action, role, expected, client, world, settings):
    user = _user(role, settings)
    client.force_login(user)

    assert _act(action, client, world) == expected

    denied = AuditEvent.objects.filter(action="access.denied", actor_id=str(user.pk))
    case_scoped = action not in {"audit trail", "audit export", "sign-in lockouts (unlock)",
                                 "task queue"}
    assert denied.exists() == (expected == "403" and case_scoped)


def test_a_refusal_is_audited_with_the_case_and_the_page_only(client, world, settings):
    auditor = _user("auditor", settings)
    client.force_login(auditor)
    subject_page = reverse("admin:cases_datasubject_change", args=[world["case"].subject.pk])

    assert client.get(subject_page).status_code == 403

    event = AuditEvent.objects.get(action="access.denied")
    assert event.case == world["case"]
    assert event.details == {"view": "cases_datasubject_change", "method": "GET"}
    assert EMAIL not in str(event.details) + event.actor_label
