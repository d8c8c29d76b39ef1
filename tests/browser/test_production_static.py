"""The admin looks right in production: under gunicorn with DEBUG off, every stylesheet and
script the login page asks for loads (WhiteNoise serves the collected files)."""

import pytest

from tests.serving import gunicorn, production_env

pytestmark = pytest.mark.browser


def test_admin_login_is_styled_under_gunicorn_with_debug_off(browser_page, tmp_path):
    page = browser_page
    failed: list[str] = []
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    with gunicorn(production_env(tmp_path)) as server:
        page.goto(f"{server.url}/admin/login/")
        page.wait_for_load_state("networkidle")
        sheets = page.evaluate(  # a sheet that failed to load has no readable rules
            "[...document.styleSheets].map(s => {"
            " try { return [s.href, s.cssRules.length] } catch (e) { return [s.href, -1] } })"
        )
        header_colour = page.evaluate(
            "getComputedStyle(document.querySelector('#header')).backgroundColor"
        )
        button = page.locator("input[type=submit]")
        button_colour = button.evaluate("b => getComputedStyle(b).backgroundColor")

    assert failed == []
    assert any("/static/admin/css/base." in (href or "") for href, _ in sheets), sheets
    assert all(rules > 0 for _, rules in sheets), sheets
    # Unstyled, both would be the browser's defaults (transparent header, grey button).
    assert header_colour not in ("rgba(0, 0, 0, 0)", "transparent")
    assert button_colour not in ("rgb(239, 239, 239)", "rgba(0, 0, 0, 0)")
