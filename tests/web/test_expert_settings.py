"""An expert's notification settings, driven like a browser against the real web app, with
SMS going through the real `twilio` client to the Twilio double."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from garde.domain import Role
from garde.models import AuditEvent, Expert, SmsMessage
from garde.phones import readable
from garde.registry import create_expert
from tests.conftest import OFFER_CODE, Region, Stack, add_login, free_port, start_stack, wait_for
from tests.phones import mobile
from tests.web.test_pages import PASSWORD, Browser, csrf_token, flashes

SETTINGS = "/expert/settings"
TEST_MESSAGE = "/expert/settings/test-message"
ENGLISH = "Garde: this is the test message you asked for."
FRENCH = "Garde: voici le message de test que vous avez demandé."


def stored(stack: Stack, code: str) -> dict[str, Any]:
    with stack.sessions() as s:
        expert = s.scalars(select(Expert).where(Expert.code == code)).one()
        return {
            "phone": expert.phone,
            "language": expert.language,
            "sms_enabled": expert.sms_enabled,
            "timezone": expert.timezone,
            "sms_unreachable_since": expert.sms_unreachable_since,
        }


def form(expert: dict[str, Any], **changes: str) -> dict[str, str]:
    values = {
        "phone": expert["phone"],
        "language": expert["language"],
        "sms_enabled": "true" if expert["sms_enabled"] else "false",
        "timezone": expert["timezone"],
    }
    return values | changes


def error_for(page: str, field: str) -> str:
    found = page.split(f'id="{field}-error">', 1)
    assert len(found) == 2, f"no error shown for {field}"
    return html.unescape(found[1].split("</small>", 1)[0])


def test_bad_phone_taken_phone_and_unknown_language_are_named_a_national_phone_is_taken(
    region: Region,
) -> None:
    alice = region.experts["alice"]
    before = stored(region.stack, alice.code)
    browser = Browser(region.stack).login(alice.username)
    cases = [
        ({"phone": "06 12 34 56"}, "phone", "Mobile phone must be a phone number, e.g."),
        ({"phone": region.experts["bruno"].phone}, "phone", "is already the phone of another"),
        ({"language": "de", "sms_enabled": "false"}, "language", "Language must be fr or en"),
        ({"sms_enabled": "maybe", "phone": "+33600000001"}, "sms_enabled", "must be true or"),
    ]
    for changes, field, reason in cases:
        r = browser.submit(SETTINGS, SETTINGS, form(before, **changes))
        assert r.status_code == 400, changes
        assert reason in error_for(r.text, field)
        assert "nothing was changed" in r.text
        assert stored(region.stack, alice.code) == before
    digits = mobile().removeprefix("+3361")
    national = f"06 1{digits[0]} {digits[1:3]} {digits[3:5]} {digits[5:]}"
    r = browser.submit(SETTINGS, SETTINGS, form(before, phone=national))
    assert r.status_code == 302, r.text
    assert stored(region.stack, alice.code)["phone"] == "+3361" + digits


def test_sms_off_is_stored_shown_and_audited(region: Region) -> None:
    bruno = region.experts["bruno"]
    before = stored(region.stack, bruno.code)
    browser = Browser(region.stack).login(bruno.username)
    r = browser.submit(SETTINGS, SETTINGS, form(before, sms_enabled="false"))
    assert r.status_code == 302
    page = browser.get(SETTINGS).text
    assert "Settings saved." in flashes(page)
    assert 'value="false" checked' in page and 'value="true" checked' not in page
    assert stored(region.stack, bruno.code)["sms_enabled"] is False
    with region.stack.sessions() as s:
        audited = s.scalars(
            select(AuditEvent).where(
                AuditEvent.actor == bruno.username, AuditEvent.action == "expert.settings"
            )
        ).all()
    assert [a.target for a in audited] == [f"expert:{bruno.code}"]
    assert "sms_enabled=false" in audited[0].detail
    assert 'href="/expert/settings"' in browser.get("/expert/").text  # in the expert's menu


def test_a_stopped_phone_is_explained_kept_through_a_test_and_lifted_by_a_new_number(
    region: Region,
) -> None:
    chloe = region.experts["chloe"]
    assert region.stack.sms_reply(chloe.phone, "STOP").status_code == 200
    browser = Browser(region.stack).login(chloe.username)
    page = html.unescape(browser.get(SETTINGS).text)
    assert f"SMS cannot reach {readable(chloe.phone)}" in page and "Reply START" in page
    before = stored(region.stack, chloe.code)
    r = browser.submit(SETTINGS, SETTINGS, form(before, language="en"))  # same phone: stays
    assert r.status_code == 302
    assert stored(region.stack, chloe.code)["sms_unreachable_since"] is not None
    # A test message that goes through does not undo a STOP: only START does.
    assert _click(browser, browser.get(SETTINGS).text).status_code == 302
    wait_for(lambda: _test_messages(region, chloe.phone), what="the test message")
    time.sleep(2)
    assert stored(region.stack, chloe.code)["sms_unreachable_since"] is not None
    new_phone = mobile()
    r = browser.submit(SETTINGS, SETTINGS, form(before, phone=new_phone))
    assert r.status_code == 302
    after = stored(region.stack, chloe.code)
    assert (after["phone"], after["sms_unreachable_since"]) == (new_phone, None)
    assert "SMS cannot reach" not in browser.get(SETTINGS).text


def test_the_test_message_comes_in_the_expert_language_once_per_click(region: Region) -> None:
    alice = region.experts["alice"]
    double = region.stack.twilio
    assert double is not None
    browser = Browser(region.stack).login(alice.username)
    r = browser.submit(SETTINGS, SETTINGS, form(stored(region.stack, alice.code), language="en"))
    assert r.status_code == 302

    # A post without the button's token sends nothing and says why.
    r = browser.submit(SETTINGS, TEST_MESSAGE, {})
    assert r.status_code == 302
    assert "click must be the token" in " ".join(flashes(browser.get(SETTINGS).text))
    # A double click: two posts of the same form at once.
    page = browser.get(SETTINGS).text
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: _click(browser, page), range(2)))
    assert [a.status_code for a in answers] == [302, 302]
    assert "A test message is on its way" in " ".join(flashes(browser.get(SETTINGS).text))
    tests = wait_for(lambda: _test_messages(region, alice.phone), what="the test message")
    assert tests[0].startswith(ENGLISH)
    time.sleep(3)
    assert len(_test_messages(region, alice.phone)) == 1
    with region.stack.sessions() as s:
        row = s.scalars(select(SmsMessage).where(SmsMessage.kind == "test_message")).all()
    assert [(m.to_number, m.language, m.case_id) for m in row if m.to_number == alice.phone] == [
        (alice.phone, "en", None)
    ]

    # Twilio then refuses an offer to this phone for good: the page says so.
    double.fail(alice.phone, 400, 21211, times=1)
    region.submit()
    wait_for(
        lambda: stored(region.stack, alice.code)["sms_unreachable_since"],
        what="the refusal recorded",
    )
    page = html.unescape(browser.get(SETTINGS).text)
    assert "the SMS provider refuses this number (twilio 21211)" in page

    # A later click, in French now: a second message, and the refusal no longer holds.
    r = browser.submit(SETTINGS, SETTINGS, form(stored(region.stack, alice.code), language="fr"))
    assert r.status_code == 302
    assert _click(browser, browser.get(SETTINGS).text).status_code == 302
    tests = wait_for(
        lambda: len(t := _test_messages(region, alice.phone)) == 2 and t, what="a second one"
    )
    assert tests[1].startswith(FRENCH)
    wait_for(
        lambda: stored(region.stack, alice.code)["sms_unreachable_since"] is None,
        what="the phone reachable again",
    )
    assert "SMS cannot reach" not in browser.get(SETTINGS).text


def test_the_next_offer_comes_in_the_language_just_chosen(region: Region) -> None:
    alice = region.experts["alice"]
    browser = Browser(region.stack).login(alice.username)
    for n, (language, words) in enumerate((("en", "Reply YES"), ("fr", "Répondez OUI"))):
        expert = stored(region.stack, alice.code)
        assert (
            browser.submit(SETTINGS, SETTINGS, form(expert, language=language)).status_code == 302
        )
        region.submit()
        offers = wait_for(lambda n=n: _offers(region, alice.phone)[n:], what=f"offer {n + 1}")
        assert words in offers[0], offers[0]


def _click(browser: Browser, page: str) -> Any:
    """Press the page's test-message button: its form's CSRF and click tokens."""
    click = re.search(r'name="click" value="([0-9a-f]+)"', page)
    assert click is not None, "the test-message button has its click token"
    return browser.http.post(
        browser.base + TEST_MESSAGE,
        data={"csrf_token": csrf_token(page), "click": click.group(1)},
        allow_redirects=False,
        timeout=60,
    )


def _offers(region: Region, phone: str) -> list[str]:
    assert region.stack.twilio is not None
    return [m.body for m in region.stack.twilio.to(phone) if OFFER_CODE.search(m.body)]


def _test_messages(region: Region, phone: str) -> list[str]:
    assert region.stack.twilio is not None
    return [m.body for m in region.stack.twilio.to(phone) if m.body.startswith((ENGLISH, FRENCH))]


@pytest.fixture
def stack_without_temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The web app alone, its Temporal server nowhere to be found."""
    tmp = tmp_path_factory.mktemp("stack-no-temporal")
    yield from start_stack(
        tmp,
        f"sqlite:///{tmp / 'garde.db'}",
        f"127.0.0.1:{free_port()}",
        "default",
        twilio=True,
        processes=("web",),
    )


def test_without_temporal_the_test_message_says_so_instead_of_failing(
    stack_without_temporal: Stack,
) -> None:
    stack = stack_without_temporal
    with stack.sessions.begin() as s:
        create_expert(
            s, {"code": "DR-X", "name": "Dr X", "phone": "+33611111111", "modalities": ["CT"]}
        )
        add_login(s, "dr-x", Role.EXPERT, expert_code="DR-X")
    browser = Browser(stack).login("dr-x", PASSWORD)
    r = _click(browser, browser.get(SETTINGS).text)
    assert r.status_code == 302
    said = " ".join(flashes(browser.get(SETTINGS).text))
    assert "The test message was not sent" in said and "try again" in said
    assert stack.twilio is not None and stack.twilio.to("+33611111111") == []
