"""Browsers ask every site for /favicon.ico: it answers with an icon, with DEBUG on or off."""

import pytest


@pytest.mark.parametrize("debug", [True, False])
def test_favicon_is_served_with_debug_on_and_off(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    body = response.content
    assert body[:4] == b"\x00\x00\x01\x00"  # ICO header: reserved 0, type 1 (icon)
    assert int.from_bytes(body[4:6], "little") >= 1  # at least one image


def test_admin_pages_link_the_icon(client):
    response = client.get("/admin/login/")
    assert b'<link rel="icon" href="/favicon.ico"' in response.content
