"""The demo's Administrator in a real browser: the README's *Task queue → Scheduled tasks* and
*API clients → Add*, and the site icon on every page."""

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from cases.management.commands.demo import DEMO_PASSWORD
from tests.browser.pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_demo_admin_reaches_scheduled_tasks_and_adds_an_api_client(browser_page, live_server):
    call_command("demo", setup_only=True, verbosity=0)
    # Migration 0003 creates this schedule; a flushed transactional database may not have it.
    Schedule.objects.get_or_create(
        name="Sync vendor jobs",
        defaults={"func": "cases.tasks.sync_vendor_jobs", "schedule_type": Schedule.MINUTES,
                  "minutes": 1},
    )
    page = browser_page
    log_in(page, live_server, "admin", DEMO_PASSWORD)

    page.click("#content-main >> text=Task queue")
    page.click("#content-main >> text=Scheduled tasks")
    page.wait_for_url(f"{live_server.url}/admin/django_q/schedule/")
    page.locator("#result_list >> text=Sync vendor jobs").first.wait_for()

    page.goto(f"{live_server.url}/admin/")
    page.click("#content-main .model-apiclient >> text=Add")
    page.fill("#id_name", "Ticketing")
    page.check("input[name=scopes][value='cases:read']")
    page.click("input[name=_save]")
    page.locator(".messagelist >> text=API key for this client").wait_for()

    icon = page.locator("link[rel=icon]").get_attribute("href")
    response = page.request.get(f"{live_server.url}{icon}")
    assert response.status == 200
    assert response.headers["content-type"] == "image/x-icon"
    page.set_content(f'<img id="icon" src="{live_server.url}{icon}" width="128" height="128">')
    width = page.evaluate("document.getElementById('icon').naturalWidth")
    assert width == 32  # Chromium decoded the icon
