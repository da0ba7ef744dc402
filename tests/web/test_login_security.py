"""Logins as an outside probe found them (issue 8, defect 5): no throttling, usernames told
apart by the time a failed login takes, `12345678` accepted as a password.

Failed logins from 127.0.0.1 count against one address for the whole session's stack: the
tests here stay well under its allowance, and the per-address limit is tried on a stack of
its own behind a (pretend) proxy, where each test is another client address.
"""

from __future__ import annotations

import re
import secrets
import statistics
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests

from garde.domain import Role
from tests.conftest import GARDE, PASSWORD, Stack, add_login, on_sqlite_only, start_stack
from tests.web.test_pages import Browser, csrf_token, flashes

TOO_MANY = "Too many failed logins; wait a few minutes before trying again."


class LoginForm:
    """The login form of one browser, posted again and again with the same CSRF token."""

    def __init__(self, stack: Stack, headers: dict[str, str] | None = None) -> None:
        self.browser = Browser(stack)
        self.headers = headers or {}
        self.token = csrf_token(self.browser.get("/login", headers=self.headers).text)

    def post(self, username: str, password: str) -> requests.Response:
        return self.browser.http.post(
            self.browser.base + "/login",
            data={"csrf_token": self.token, "username": username, "password": password},
            headers=self.headers,
            allow_redirects=False,
            timeout=60,
        )


def login_user(stack: Stack) -> str:
    username = "login-" + secrets.token_hex(4)
    with stack.sessions.begin() as s:
        add_login(s, username, Role.COORDINATOR)
    return username


def test_ten_failed_logins_lock_the_account_for_a_while_with_429_and_retry_after(
    stack: Stack,
) -> None:
    username = login_user(stack)
    form = LoginForm(stack)
    for _ in range(10):
        assert form.post(username, "wrong password here").status_code == 401
    locked = form.post(username, "wrong password here")
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert TOO_MANY in flashes(locked.text)
    # Locked means locked: the right password waits too, in another browser as well.
    assert LoginForm(stack).post(username.upper(), PASSWORD).status_code == 429
    # Another account from the same address is not held up, nor are good logins counted.
    other = login_user(stack)
    for _ in range(12):
        assert LoginForm(stack).post(other, PASSWORD).status_code == 302


def test_an_unknown_username_takes_as_long_as_a_wrong_password(stack: Stack) -> None:
    """Found: 3 ms for an unknown username, 79 ms for a known one (the hash was checked)."""
    known = login_user(stack)
    form = LoginForm(stack)

    def timed(username: str) -> float:
        start = time.perf_counter()
        assert form.post(username, "not the password at all").status_code == 401
        return time.perf_counter() - start

    unknown_times, known_times = [], []
    for _ in range(8):  # interleaved, so a busy moment of the machine falls on both
        unknown_times.append(timed("nobody-" + secrets.token_hex(4)))
        known_times.append(timed(known))
    ratio = statistics.median(unknown_times) / statistics.median(known_times)
    assert 0.5 < ratio < 2, f"unknown/known median time ratio {ratio:.2f}"


def test_garde_user_add_refuses_weak_passwords_and_says_why(stack: Stack) -> None:
    on_sqlite_only(stack.env["GARDE_DATABASE_URL"], "the password policy")

    def add(username: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*GARDE, "user", "add", username, "--role", "coordinator"],
            env={**stack.env, "GARDE_NEW_PASSWORD": password},
            capture_output=True,
            text=True,
            timeout=60,
        )

    name = "policy-" + secrets.token_hex(3)
    for password, reason in (
        ("12345678", "password: must be at least 12 characters"),
        ("qwerty123456", "password: is one of the most common passwords"),
        ("Password1234", "password: is one of the most common passwords"),
        (name.upper(), "password: must not be the username"),
    ):
        refused = add(name, password)
        assert refused.returncode == 2 and reason in refused.stderr, refused.stderr
    assert add(name, "plum tree at dawn").returncode == 0
    assert LoginForm(stack).post(name, "plum tree at dawn").status_code == 302


@pytest.fixture(scope="module")
def proxied(
    database_url: str, temporal_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The web app behind an HTTPS reverse proxy: GARDE_BEHIND_PROXY and an https public URL."""
    on_sqlite_only(database_url, "the proxy's headers and the login limiter's memory")
    yield from start_stack(
        tmp_path_factory.mktemp("stack-proxied"),
        database_url,
        temporal_address,
        "garde-outbox",
        twilio=False,
        extra_env={"GARDE_BEHIND_PROXY": "1", "GARDE_PUBLIC_URL": "https://garde.example.org"},
        processes=("web",),
    )


class ProxiedLoginForm(LoginForm):
    """As the proxy forwards a client: its address appended to X-Forwarded-For, over HTTPS.
    The session cookie is Secure, so it is handed back by hand over the test's plain HTTP."""

    def __init__(self, stack: Stack, client: str, forwarded_for: str = "") -> None:
        chain = f"{forwarded_for}, {client}" if forwarded_for else client
        headers = {"X-Forwarded-For": chain, "X-Forwarded-Proto": "https"}
        page = requests.get(stack.url + "/login", headers=headers, timeout=60)
        self.set_cookie = page.headers["Set-Cookie"]
        session = re.match(r"session=([^;]+)", self.set_cookie)
        assert session, self.set_cookie
        super().__init__(stack, {**headers, "Cookie": f"session={session.group(1)}"})
        self.token = csrf_token(page.text)


def test_behind_a_proxy_failed_logins_are_counted_per_client_address(proxied: Stack) -> None:
    client = "203.0.113." + str(secrets.randbelow(250) + 1)
    for i in range(50):
        # What the client wrote in X-Forwarded-For is not believed: only the proxy's hop is.
        form = ProxiedLoginForm(proxied, client, forwarded_for=f"198.51.100.{i}")
        assert form.post("nobody-" + secrets.token_hex(4), "guess number one").status_code == 401
    locked = ProxiedLoginForm(proxied, client).post("nobody-else", "guess number two")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    neighbour = ProxiedLoginForm(proxied, "192.0.2.77")
    assert neighbour.post("nobody-else", "guess number two").status_code == 401


def test_behind_https_the_session_cookie_is_secure(proxied: Stack, stack: Stack) -> None:
    cookie = ProxiedLoginForm(proxied, "192.0.2.78").set_cookie
    assert "; Secure" in cookie and "; HttpOnly" in cookie
    plain = requests.get(stack.url + "/login", timeout=60).headers["Set-Cookie"]
    assert "Secure" not in plain  # a developer's http://127.0.0.1 keeps working
