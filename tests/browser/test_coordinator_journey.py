"""A coordinator keeps the board open: a request sent meanwhile appears on it without a reload
(the page hears of it on its event stream). Then the roster grid shows who is on duty."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

from garde.domain import Role
from tests.browser.visit import Visit
from tests.conftest import Region, add_login

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_the_board_updates_live_and_the_roster_shows_the_shifts(
    visit: Visit, region: Region
) -> None:
    page, _ = visit.page, visit._
    username = "coord-" + secrets.token_hex(3)
    with region.stack.sessions.begin() as s:
        add_login(s, username, Role.COORDINATOR)
    visit.login(username)
    expect(page.get_by_role("heading", name=_("Board"), exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=_("Open cases"))).to_be_visible()
    page.evaluate("window.notReloaded = true")

    case_id = region.submit()["id"]  # as the site's system would, through the API
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"#{case_id}"))
    expect(row).to_be_visible()
    expect(row).to_contain_text(region.site)
    expect(row).to_contain_text(_("urgent"))
    assert page.evaluate("window.notReloaded") is True, "the board was reloaded, not refreshed"
    visit.reads_its_language()
    expect(visit.log_out(username)).to_be_in_viewport()
    visit.shoot("coordinator", "board")

    page.get_by_role("link", name=_("Roster"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(_("Roster"))
    # The heading shows before the page's deferred script listens for the choice: a choice
    # made in between is lost (under load, once in a full run).
    page.wait_for_load_state("domcontentloaded")
    page.get_by_label(_("Site"), exact=True).select_option(region.site)
    expect(page).to_have_url(re.compile(rf"site={region.site}"))
    grid = page.get_by_role("region", name=_("Roster grid"))
    expect(grid).to_be_visible()
    # Each shift is a bar that names its expert and tier; alice is primary, bruno backup.
    for name, tier in (("Dr Alice", "primary"), ("Dr Bruno", "backup")):
        bar = grid.get_by_role("link", name=re.compile(rf"{name}, {_(tier)}\b"))
        expect(bar).to_have_count(1)
    expect(grid.get_by_text("Dr Chloe")).to_have_count(0)  # not credentialed at the site
    visit.reads_its_language()
    visit.shoot("coordinator", "roster")
