"""Who reaches the dev SMS outbox: staff only, only in development, only without Twilio.

A reply typed there accepts offers in an expert's name, so where a request comes from is not
trusted (these tests all come from loopback, as everything does behind a reverse proxy)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from garde.domain import Role
from tests.conftest import Stack, add_login, make_region, start_stack
from tests.web.test_pages import PASSWORD, Browser, csrf_token


def login(stack: Stack, role: Role) -> Browser:
    username = f"{role.value}-" + secrets.token_hex(3)
    with stack.sessions.begin() as s:
        add_login(s, username, role)
    return Browser(stack).login(username, PASSWORD)


@pytest.fixture(scope="module")
def production_stack(
    temporal_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Twilio unset but no development mode: a web app deployed before Twilio is set up."""
    tmp = tmp_path_factory.mktemp("stack-production")
    yield from start_stack(
        tmp,
        f"sqlite:///{tmp / 'garde.db'}",
        temporal_address,
        "garde-outbox",
        twilio=False,
        extra_env={"GARDE_DEV_OUTBOX": ""},
        processes=("web",),
    )


def test_coordinators_and_admins_read_the_outbox_and_find_it_in_their_menu(
    outbox_stack: Stack,
) -> None:
    for role in (Role.COORDINATOR, Role.ADMIN):
        staff = login(outbox_stack, role)
        page = staff.get("/dev/outbox")
        assert page.status_code == 200 and "SMS outbox" in page.text
        assert 'href="/dev/outbox"' in staff.get("/coordinator/").text


def test_experts_sites_and_strangers_never_reach_the_outbox(outbox_stack: Stack) -> None:
    region = make_region(outbox_stack, on_duty=())
    alice = region.experts["alice"]
    for username in (alice.username, region.site_username):
        user = Browser(outbox_stack).login(username, PASSWORD)
        assert user.get("/dev/outbox").status_code == 404
        assert "/dev/outbox" not in user.get("/").text
        token = csrf_token(user.get("/").text)  # any page of theirs has one
        r = user.http.post(
            user.base + "/dev/outbox/reply",
            data={"csrf_token": token, "from_number": alice.phone, "body": "YES X1"},
            allow_redirects=False,
            timeout=60,
        )
        assert r.status_code == 404
    anonymous = Browser(outbox_stack).get("/dev/outbox", allow_redirects=False)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert "/dev/outbox" not in Browser(outbox_stack).get("/login").text


def test_the_outbox_is_gone_when_twilio_is_configured(stack: Stack) -> None:
    assert stack.env["GARDE_DEV_OUTBOX"] == "1"  # development mode, but Twilio wins
    admin = login(stack, Role.ADMIN)
    assert admin.get("/dev/outbox").status_code == 404
    assert "/dev/outbox" not in admin.get("/coordinator/").text


def test_the_outbox_is_gone_outside_development_even_for_an_admin(
    production_stack: Stack,
) -> None:
    admin = login(production_stack, Role.ADMIN)
    assert admin.get("/dev/outbox").status_code == 404
    assert "/dev/outbox" not in admin.get("/coordinator/").text
    assert Browser(production_stack).get("/dev/outbox").status_code == 404
