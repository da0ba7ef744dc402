"""Sessions and tokens can be taken back (issue 8, defect 6). Found: a cookie copied before
logout still worked afterwards, tokens never expired and could not be revoked, and there was
no way to change a password or disable an account."""

from __future__ import annotations

import secrets
import subprocess

import requests
from sqlalchemy import select

from garde.accounts import create_token
from garde.domain import Role
from garde.models import User
from tests.conftest import GARDE, PASSWORD, Stack, add_login, on_sqlite_only, wait_for
from tests.web.test_pages import Browser, flashes

NEW_PASSWORD = "a lantern in the fog"


def new_login(stack: Stack) -> str:
    username = "revoke-" + secrets.token_hex(4)
    with stack.sessions.begin() as s:
        add_login(s, username, Role.COORDINATOR)
    return username


def garde(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*GARDE, *args], env=stack.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done


def replay(stack: Stack, cookies: dict[str, str], path: str = "/coordinator/") -> int:
    """What a stranger holding a copy of the cookie gets."""
    r = requests.get(stack.url + path, cookies=cookies, allow_redirects=False, timeout=60)
    if r.status_code == 302:
        assert "/login" in r.headers["Location"]
    return r.status_code


def test_a_cookie_copied_before_logout_no_longer_works(stack: Stack) -> None:
    browser = Browser(stack).login(new_login(stack))
    copied = browser.http.cookies.get_dict()
    assert replay(stack, copied) == 200
    assert browser.submit("/coordinator/", "/logout", {}).status_code == 302
    assert replay(stack, copied) == 302


def test_changing_the_password_says_what_is_wrong_then_ends_the_other_sessions(
    stack: Stack,
) -> None:
    username = new_login(stack)
    here = Browser(stack).login(username)
    elsewhere = Browser(stack).login(username)
    page = "/account/password"
    assert 'href="/account/password"' in here.get("/coordinator/").text

    wrong = here.submit(
        page,
        page,
        {"current_password": "not it", "new_password": "12345678", "new_password_again": "1"},
    )
    assert wrong.status_code == 400
    assert "Current password is not your current password" in wrong.text
    assert "New password must be at least 12 characters" in wrong.text
    assert "New password again does not match the new password" in wrong.text
    assert 'value="12345678"' not in wrong.text  # passwords are never written back
    common = {"current_password": PASSWORD, "new_password": "password1234"}
    r = here.submit(page, page, {**common, "new_password_again": "password1234"})
    assert r.status_code == 400 and "is one of the most common passwords" in r.text
    assert replay(stack, elsewhere.http.cookies.get_dict()) == 200

    good = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    r = here.submit(page, page, {**good, "new_password_again": NEW_PASSWORD})
    assert r.status_code == 302
    assert "Password changed. Your other sessions were logged out." in flashes(here.get(page).text)
    assert here.get("/coordinator/").status_code == 200
    assert replay(stack, elsewhere.http.cookies.get_dict()) == 302
    refused = Browser(stack).submit(
        "/login", "/login", {"username": username, "password": PASSWORD}
    )
    assert refused.status_code == 401
    Browser(stack).login(username, NEW_PASSWORD)


def test_a_disabled_user_is_out_at_once_sessions_and_tokens_included(stack: Stack) -> None:
    username = new_login(stack)
    browser = Browser(stack).login(username)
    token = garde(stack, "token", "create", username).stdout.strip()
    api = stack.api(token)
    assert api.get("/api/v1/cases").status_code == 200

    garde(stack, "user", "disable", username)
    assert replay(stack, browser.http.cookies.get_dict()) == 302
    r = api.get("/api/v1/cases")
    assert r.status_code == 401 and r.json()["error"] == "the API token's user is disabled"
    login = Browser(stack).submit("/login", "/login", {"username": username, "password": PASSWORD})
    assert login.status_code == 401

    garde(stack, "user", "enable", username)
    Browser(stack).login(username)
    assert api.get("/api/v1/cases").status_code == 200


def test_tokens_expire_and_can_be_revoked_one_by_one_or_all_of_a_user(stack: Stack) -> None:
    on_sqlite_only(stack.env["GARDE_DATABASE_URL"], "a token's expiry and revocation by the CLI")
    username = new_login(stack)
    kept, other = (garde(stack, "token", "create", username).stdout.strip() for _ in range(2))
    short = garde(stack, "token", "create", username, "--days", "0.00005").stdout.strip()
    assert stack.api(short).get("/api/v1/cases").status_code == 200
    # 0.00005 days is 4.3 s.
    wait_for(lambda: stack.api(short).get("/api/v1/cases").status_code == 401, 15, "expiry")
    assert stack.api(short).get("/api/v1/cases").json()["error"] == "the API token has expired"

    garde(stack, "token", "revoke", kept)
    r = stack.api(kept).get("/api/v1/cases")
    assert r.status_code == 401 and r.json()["error"] == "the API token was revoked"
    assert stack.api(other).get("/api/v1/cases").status_code == 200

    said = garde(stack, "token", "revoke", "--user", username).stdout
    assert f"1 token(s) of {username} revoked" in said
    assert stack.api(other).get("/api/v1/cases").status_code == 401


def test_an_admin_disables_and_enables_a_login_through_the_api(stack: Stack) -> None:
    username = new_login(stack)
    browser = Browser(stack).login(username)
    with stack.sessions.begin() as s:
        admin = add_login(s, "admin-" + secrets.token_hex(4), Role.ADMIN)
        admin_token = create_token(s, admin)
        own_token = create_token(s, s.scalars(select(User).where(User.username == username)).one())
    api = stack.api(admin_token)

    assert stack.api(own_token).post(f"/api/v1/users/{username}/disable").status_code == 403
    r = api.post(f"/api/v1/users/{username}/disable")
    assert r.status_code == 200 and r.json() == {
        "username": username,
        "role": "coordinator",
        "disabled": True,
    }
    assert replay(stack, browser.http.cookies.get_dict()) == 302
    assert stack.api(own_token).get("/api/v1/cases").status_code == 401
    assert api.post(f"/api/v1/users/{admin.username}/disable").status_code == 409
    assert api.post("/api/v1/users/nobody-at-all/disable").status_code == 404

    assert api.post(f"/api/v1/users/{username}/enable").json()["disabled"] is False
    assert stack.api(own_token).get("/api/v1/cases").status_code == 200
