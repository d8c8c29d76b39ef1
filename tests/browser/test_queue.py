"""The home page in a real browser: the officer's queue at laptop widths, the auditor's home."""

import datetime as dt

import pytest
from django.utils import timezone

from cases import services
from cases.audit import Actor
from tests.browser.pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = (1440, 1280)


def _overdue_case(make_case, officer, days_late: int):
    received = timezone.now() - dt.timedelta(days=45 + days_late)
    case = make_case(regulation="ccpa", actions=["access", "delete"], received_at=received)
    return services.assign(case, actor=Actor.system(), assignee=officer)


def _clipped(page, selector: str) -> list[str]:
    """Texts of the elements matching `selector` that some ancestor cuts off (overflow) or
    that reach past the window's right edge."""
    return page.evaluate(
        """(selector) => {
          const clipped = [];
          for (const el of document.querySelectorAll(selector)) {
            const box = el.getBoundingClientRect();
            let outside = box.right > document.documentElement.clientWidth;
            for (let up = el.parentElement; up && !outside; up = up.parentElement) {
              const style = getComputedStyle(up);
              if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
              const frame = up.getBoundingClientRect();
              outside = box.left < frame.left || box.right > frame.right
                || up.scrollWidth > up.clientWidth;
            }
            if (outside || box.width === 0) clipped.push(el.textContent.trim());
          }
          return clipped;
        }""",
        selector,
    )


def test_officer_queue_shows_whole_badges_and_case_details(
    browser_page, live_server, officer, make_case, tmp_path
):
    long_late = _overdue_case(make_case, officer, 123)
    _overdue_case(make_case, officer, 3)
    page = browser_page
    log_in(page, live_server, officer.username)

    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/admin/")
        page.screenshot(path=str(tmp_path / f"home-{width}.png"), full_page=True)
        overdue = page.locator(".pd-box-overdue")
        assert overdue.locator(".pd-band-overdue").count() == 2
        assert _clipped(page, ".pd-box .pd-days") == [], f"badge cut off at {width}px"
        row = overdue.locator("tr", has_text=long_late.reference)
        cells = row.locator("th, td").all_inner_texts()
        assert cells == [
            long_late.reference,
            "Access and delete",
            "California CCPA",
            timezone.localdate(long_late.received_at).isoformat(),
            f"{long_late.due_date.isoformat()} overdue by 123 days",
            officer.username,
        ], width
    assert page.locator("h1").inner_text() == "Officer's queue"


def test_auditor_home_is_not_the_officers_queue(browser_page, live_server, auditor, make_case):
    make_case()
    page = browser_page
    log_in(page, live_server, auditor.username)

    assert page.locator("h1").inner_text() == "Cases and audit trail"
    assert "Officer" not in page.title()
