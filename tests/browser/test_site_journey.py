"""An ER physician at a site asks for a read in the browser, as the README walks it through."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

from garde.models import Case
from tests.browser.layout import lines
from tests.browser.visit import Visit
from tests.conftest import Region

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_site_sends_a_request_and_follows_its_deadlines(visit: Visit, region: Region) -> None:
    page, _ = visit.page, visit._
    visit.login(region.site_username)
    page.get_by_role("link", name=_("New request"), exact=True).click()
    expect(page.get_by_role("heading", name=_("New read request"))).to_be_visible()
    visit.reads_its_language()

    accession = "ACC-" + secrets.token_hex(4)
    page.get_by_label(_("Accession number")).fill(accession)
    page.get_by_label(_("Modality")).select_option("CT")
    page.get_by_label(_("Body part")).fill("HEAD")
    page.get_by_label(_("Study description")).fill("CT head without contrast")
    page.get_by_role("radio", name=_("urgent"), exact=True).check()
    page.get_by_label(_("Clinical question")).fill("Fall on anticoagulants, rule out a bleed")
    page.get_by_label(_("Requesting physician")).fill("Dr Urgences")
    # The national form, as a French ER writes its own number.
    page.get_by_label(_("Call-back phone")).fill("04 71 00 00 00")
    visit.shoot("site", "form")
    page.get_by_role("button", name=_("Send the request")).click()

    expect(page).to_have_url(re.compile(r"/site/cases/\d+$"))
    case_id = int(page.url.rsplit("/", 1)[1])
    assert accession not in page.url
    expect(page.get_by_role("heading", level=1)).to_contain_text(_("Case #%(id)s", id=case_id))
    # Routing offers it to the expert on duty; the page follows by itself.
    expect(page.get_by_role("heading", level=1)).to_contain_text(visit.p_("case", "offered"))
    expect(page.get_by_text(_("Accept within %(duration)s", duration="20 min"))).to_be_visible()
    countdown = re.compile(
        "^" + re.escape(_("in %(duration)s", duration="@")).replace("@", r"\d+ min") + "$"
    )
    expect(page.get_by_text(countdown).first).to_be_visible()
    shown = lines(page.locator("time[data-countdown]"))  # "in 19 min", never "in 19 / min"
    assert shown and all(count == 1 for _text, count in shown), shown
    expect(page.get_by_role("link", name="+33 4 71 00 00 00")).to_be_visible()
    expect(page.get_by_role("button", name=_("Cancel the request"))).to_be_visible()
    visit.reads_its_language()
    expect(visit.log_out(region.site_username)).to_be_in_viewport()
    visit.shoot("site", "case")

    # The header's switch brings the same page back in the other language.
    other, name = {"fr": ("en", "English"), "en": ("fr", "Français")}[visit.language]
    page.get_by_role("button", name=name, exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", other)
    assert page.url.endswith(f"/site/cases/{case_id}")

    with region.stack.sessions() as s:
        assert s.get_one(Case, case_id).callback_phone == "+33471000000"
