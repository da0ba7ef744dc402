"""The pages in a real browser: no WCAG 2.1 A/AA violation axe-core finds, in French and in
English; on a 390 px phone the header fits in two lines and "Log out" is a thumb-sized target;
the main actions are reached by Tab with a visible focus ring, after a skip link."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from garde.domain import Role
from garde.models import Case
from tests.browser.conftest import LOCALES
from tests.conftest import PASSWORD, Region, Stack, add_login, make_region, wait_for

WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LANGUAGES = ("fr", "en")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

# The browser fixtures are tests/browser/conftest.py's; the pages are the same on both databases.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@dataclass
class Scene:
    """A region with a case each audience has a page about, and a login per role and language."""

    region: Region
    offered: int  # offered to alice, unanswered
    accepted: int  # accepted by alice, waiting for her report
    logins: dict[tuple[Role, str], str]


@pytest.fixture(scope="module")
def scene(stack: Stack) -> Iterator[Scene]:
    region = make_region(stack)
    alice = region.experts["alice"]
    accepted = region.submit()["id"]
    code = region.offer_sms("alice")
    assert stack.sms_reply(alice.phone, f"oui {code}").status_code == 200
    wait_status(stack, accepted, "accepted")
    offered = region.submit()["id"]
    wait_status(stack, offered, "offered")
    logins = {}
    with stack.sessions.begin() as s:
        for role in (Role.SITE, Role.EXPERT, Role.COORDINATOR, Role.ADMIN):
            for language in LANGUAGES:
                username = f"a11y-{role.value}-{language}-{secrets.token_hex(3)}"
                codes = {
                    Role.SITE: {"site_code": region.site},
                    Role.EXPERT: {"expert_code": alice.code},
                }.get(role, {})
                add_login(s, username, role, **codes).language = language
                logins[role, language] = username
    yield Scene(region, offered, accepted, logins)
    region.cancel_open_cases()


def wait_status(stack: Stack, case_id: int, status: str) -> None:
    def reached() -> bool:
        with stack.sessions() as s:
            return s.get_one(Case, case_id).status == status

    wait_for(reached, what=f"case {case_id} to be {status}")


def open_as(
    browser: Browser, scene: Scene, role: Role | None, language: str, **context: Any
) -> Page:
    """A fresh browser page, logged in as the role's login in `language` (None: logged out)."""
    page = browser.new_context(locale=LOCALES[language], **context).new_page()
    page.goto(scene.region.stack.url + "/login")
    if role is not None:
        page.locator("input[name=username]").fill(scene.logins[role, language])
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("main button").click()
        page.wait_for_url(lambda url: "/login" not in url)
    return page


def pages(scene: Scene) -> dict[Role | None, list[str]]:
    offered, accepted = scene.offered, scene.accepted
    return {
        None: ["/login"],
        Role.SITE: ["/site/cases", "/site/cases/new", f"/site/cases/{accepted}"],
        Role.EXPERT: [
            "/expert/",
            f"/expert/cases/{offered}",
            f"/expert/cases/{accepted}",
            "/expert/settings",
            "/expert/roster",
        ],
        Role.COORDINATOR: [
            "/coordinator/",
            "/coordinator/roster",
            "/coordinator/analytics",
            f"/coordinator/cases/{accepted}",
        ],
        Role.ADMIN: ["/admin/users", "/admin/audit"],
    }


def readable(url: str, violations: list[dict[str, Any]]) -> str:
    lines = [f"{url}:"]
    for v in violations:
        lines.append(f"  {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {' '.join(node['target'])}: {node['html'][:160]}")
            summary = node.get("failureSummary", "").replace("\n", " ")
            lines.append(f"      {summary[:300]}")
    return "\n".join(lines)


# Each language once, one at a desktop's width and one at a phone's (tables scroll there).
@pytest.mark.parametrize(
    ("language", "viewport"), [("fr", DESKTOP), ("en", PHONE)], ids=["fr-desktop", "en-phone"]
)
@pytest.mark.parametrize(
    "role",
    [None, Role.SITE, Role.EXPERT, Role.COORDINATOR, Role.ADMIN],
    ids=lambda role: role.value if role else "logged-out",
)
def test_every_main_page_has_no_wcag_aa_violation(
    browser: Browser, scene: Scene, role: Role | None, language: str, viewport: dict[str, int]
) -> None:
    axe = Axe()
    failures = []
    page = open_as(browser, scene, role, language, viewport=viewport)
    for path in pages(scene)[role]:
        page.goto(scene.region.stack.url + path)
        assert page.locator("html").get_attribute("lang") == language, path
        found = axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA}})
        if found.response["violations"]:
            failures.append(readable(path, found.response["violations"]))
    page.context.close()
    assert not failures, "axe found WCAG A/AA violations:\n" + "\n".join(failures)


@pytest.mark.parametrize("role", [Role.SITE, Role.EXPERT])
@pytest.mark.parametrize("language", LANGUAGES)
def test_on_a_phone_the_header_fits_two_lines_and_log_out_is_thumb_sized(
    browser: Browser, scene: Scene, role: Role, language: str
) -> None:
    page = open_as(browser, scene, role, language, viewport=PHONE, has_touch=True)
    start = {Role.SITE: f"/site/cases/{scene.accepted}", Role.EXPERT: "/expert/"}[role]
    page.goto(scene.region.stack.url + start)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    header = page.locator("header.top").bounding_box()
    line = page.locator("header.top nav a").first.bounding_box()
    assert header is not None and line is not None
    # Two lines of links at most, with the header's padding.
    assert header["height"] <= 2 * max(line["height"], 44) + 40, header
    log_out = page.get_by_role("button", name="Log out" if language == "en" else "Se déconnecter")
    box = log_out.bounding_box()
    assert box is not None and box["width"] >= 44 and box["height"] >= 44, box
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    page.context.close()


def tab_to(page: Page, name: str, most: int = 60) -> dict[str, Any]:
    """Press Tab until the focused element's accessible text is `name`; what it looks like then."""
    for _ in range(most):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
                const el = document.activeElement;
                const style = getComputedStyle(el);
                return {text: (el.innerText || el.value || '').trim(),
                        outline: style.outlineStyle, width: parseFloat(style.outlineWidth)};
            }"""
        )
        if focused["text"] == name:
            return dict(focused)
    raise AssertionError(f"{name!r} is not reached by Tab")


def first_tab_is_a_skip_link(page: Page) -> None:
    page.keyboard.press("Tab")
    href = page.evaluate("document.activeElement.getAttribute('href')")
    assert href == "#main"
    assert page.locator("#main").count() == 1


@pytest.mark.parametrize(
    ("role", "where", "action"),
    [
        (Role.EXPERT, "/expert/", "Accept"),
        (Role.EXPERT, "accepted", "File the report"),
        (Role.SITE, "/site/cases/new", "Send the request"),
    ],
)
def test_main_actions_are_reached_by_tab_with_a_visible_focus_ring(
    browser: Browser, scene: Scene, role: Role, where: str, action: str
) -> None:
    page = open_as(browser, scene, role, "en")
    path = f"/expert/cases/{scene.accepted}" if where == "accepted" else where
    page.goto(scene.region.stack.url + path)
    first_tab_is_a_skip_link(page)
    focused = tab_to(page, action)
    assert focused["outline"] != "none" and focused["width"] >= 2, focused
    page.context.close()
