"""An admin makes a login on the admin pages and disables it; the login is then refused."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from garde.domain import Role
from tests.browser.layout import overrun_labels
from tests.browser.visit import Visit
from tests.conftest import Stack, add_login

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_an_admin_creates_a_login_and_disables_it(visit: Visit, stack: Stack) -> None:
    page, _ = visit.page, visit._
    admin = "admin-" + secrets.token_hex(3)
    # The longest username there may be, in one word: on a phone it wraps, as does anything
    # else the list or a login's page shows, instead of pushing the page past the screen.
    longest = secrets.token_hex(4) + "x" * 56
    with stack.sessions.begin() as s:
        add_login(s, admin, Role.ADMIN)
        add_login(s, longest, Role.COORDINATOR)
    visit.login(admin)
    page.get_by_role("link", name=_("Admin"), exact=True).click()
    expect(page.get_by_role("heading", name=_("Logins"), exact=True)).to_be_visible()
    visit.reads_its_language()
    page.get_by_role("link", name=longest, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(longest)
    visit.reads_its_language()
    page.get_by_role("link", name=_("Logins"), exact=True).click()
    page.get_by_role("link", name=_("New login"), exact=True).click()

    username = "night-coord-" + secrets.token_hex(3)
    page.get_by_label(_("Username"), exact=True).fill(username)
    page.get_by_label(_("Role")).select_option("coordinator")
    # Too short first: the page says why, in the reader's language, and nothing is stored.
    page.get_by_label(_("Initial password")).fill("short")
    page.get_by_label(_("Initial password")).evaluate("field => field.removeAttribute('minlength')")
    page.get_by_role("button", name=_("Create the login")).click()
    expect(page.get_by_role("alert")).to_contain_text(
        _("Please correct the fields marked below; nothing was stored.")
    )
    page.get_by_label(_("Initial password")).fill("plum tree at dawn")
    visit.shoot("admin", "new-login")
    page.get_by_role("button", name=_("Create the login")).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(username)
    expect(page.get_by_role("status")).to_contain_text(username)
    page.once("dialog", lambda dialog: dialog.accept())  # "Disable this login? …"
    page.get_by_role("button", name=_("Disable the login")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(_("disabled"))
    expect(page.get_by_role("button", name=_("Enable the login"))).to_be_visible()
    visit.reads_its_language()
    visit.shoot("admin", "disabled")

    page.get_by_role("link", name=_("Logins"), exact=True).click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=username, exact=True))
    expect(row).to_contain_text(_("disabled"))
    expect(row).to_contain_text(visit.p_("role", "coordinator"))
    visit.reads_its_language()
    # On a phone each row is a card; a label of two lines stays within its line.
    assert not overrun_labels(page.locator("table.cards")), "a card's label runs over the next"
    expect(visit.log_out(admin)).to_be_in_viewport()
    visit.shoot("admin", "logins")

    # The one with the longest username logs in: the header names them and still fits.
    visit.log_out(admin).click()
    visit.login(longest)
    visit.reads_its_language()
    expect(visit.log_out(longest)).to_be_in_viewport()
    visit.shoot("admin", "longest-login")
