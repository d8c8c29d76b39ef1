"""Steps the browser tests share."""

PASSWORD = "correct horse battery"  # the password of the named users in tests/conftest.py


def log_in(page, live_server, username: str, password: str = PASSWORD) -> None:
    """Sign in on the admin login page and wait for the home page."""
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
