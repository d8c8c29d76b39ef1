"""Searching the case list by the subject's email never puts the address in a URL or a log."""

import logging
from urllib.parse import quote, quote_plus

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

CHANGELIST = "admin:cases_case_changelist"
SEARCH = "admin:cases_case_search"
EMAIL = "jonas.becker@example.net"
FORMS = (EMAIL, quote(EMAIL), quote_plus(EMAIL), quote(EMAIL, safe=""))


def assert_nowhere(*texts: str) -> None:
    for text in texts:
        for form in FORMS:
            assert form not in text


@pytest.fixture
def jonas_case(make_case):
    make_case()  # Ada's, not to be found
    return make_case(subject_email=EMAIL, subject_name="Jonas Becker")


def test_email_search_keeps_the_address_out_of_urls_pages_and_logs(
    client, officer, jonas_case, caplog
):
    client.force_login(officer)
    caplog.set_level(logging.DEBUG)
    response = client.post(reverse(SEARCH), {"q": f" {EMAIL} ", "status__exact": "new"})
    assert response.status_code == 302
    location = response["Location"]
    assert "found=" in location and "status__exact=new" in location
    page = client.get(location)
    assert [case.reference for case in page.context["cl"].result_list] == [jonas_case.reference]
    content = page.content.decode()
    assert "Cases of the subject you searched for (1)" in content
    case_link = reverse("admin:cases_case_change", args=[jonas_case.pk])
    assert f'href="{case_link}?_changelist_filters=' in content  # carries the key only
    assert_nowhere(location, content, *(record.getMessage() for record in caplog.records))
    assert_nowhere(*(str(value) for value in client.session.values()))  # ids, not the address


def test_the_search_box_posts_instead_of_putting_the_term_in_the_url(client, officer):
    client.force_login(officer)
    content = client.get(reverse(CHANGELIST)).content.decode()
    assert f'method="post" action="{reverse(SEARCH)}"' in content
    assert 'name="csrfmiddlewaretoken"' in content


def test_other_terms_still_search_with_q(client, officer, jonas_case):
    client.force_login(officer)
    response = client.post(reverse(SEARCH), {"q": jonas_case.reference})
    assert response["Location"] == f"{reverse(CHANGELIST)}?q={jonas_case.reference}"
    listed = client.get(response["Location"]).context["cl"].result_list
    assert [case.pk for case in listed] == [jonas_case.pk]


def test_an_empty_search_keeps_the_filters(client, officer):
    client.force_login(officer)
    response = client.post(reverse(SEARCH), {"q": "", "regulation__exact": "gdpr", "p": "3"})
    assert response["Location"] == f"{reverse(CHANGELIST)}?regulation__exact=gdpr"


def test_an_email_in_an_old_bookmark_is_taken_out_of_the_url(client, officer, jonas_case):
    client.force_login(officer)
    response = client.get(reverse(CHANGELIST), {"q": EMAIL, "status__exact": "new"})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse(CHANGELIST)}?status__exact=new"
    page = client.get(response["Location"])
    assert_nowhere(page.content.decode())
    assert any("Search by email with the search box" in str(m)
               for m in get_messages(page.wsgi_request))


def test_an_unknown_search_key_lists_nothing_and_says_so(client, officer, jonas_case):
    client.force_login(officer)
    page = client.get(reverse(CHANGELIST), {"found": "not-a-key"})
    assert list(page.context["cl"].result_list) == []
    assert "That search has expired" in page.content.decode()


def test_a_search_key_is_only_good_in_its_own_session(client, officer, jonas_case,
                                                      django_user_model):
    client.force_login(officer)
    location = client.post(reverse(SEARCH), {"q": EMAIL})["Location"]
    other = django_user_model.objects.create_user("oscar", is_staff=True, is_superuser=True)
    client.force_login(other)  # a new session
    assert list(client.get(location).context["cl"].result_list) == []


def test_search_needs_a_staff_user_with_case_access(client, django_user_model):
    clerk = django_user_model.objects.create_user("clerk", is_staff=True)
    client.force_login(clerk)
    assert client.post(reverse(SEARCH), {"q": EMAIL}).status_code == 403


def test_error_reports_hide_the_search_term(client, officer):
    client.force_login(officer)
    response = client.post(reverse(SEARCH), {"q": EMAIL})
    assert response.wsgi_request.sensitive_post_parameters == ("q",)
