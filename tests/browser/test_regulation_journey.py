"""Régulation on a phone: the expert on call takes a request before its scan, validates it
with a protocol of the library, and the site's technologist reads the protocol and says the
scan is done; the case comes back to the same expert to read."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from garde.models import Site
from tests.browser.visit import Visit
from tests.conftest import Region

pytestmark = [
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    # At a phone's width, where a form of two choices is the hardest to read: in both languages.
    pytest.mark.parametrize("visit", [("fr", "phone"), ("en", "phone")], indirect=True),
]


def test_an_expert_validates_a_request_on_a_phone_and_the_site_scans(
    visit: Visit, region: Region
) -> None:
    page, _ = visit.page, visit._
    with region.stack.sessions.begin() as s:  # the region's own site, for this test alone
        s.execute(update(Site).where(Site.code == region.site).values(regulation=True))
    alice = region.experts["alice"]
    visit.login(alice.username)
    case_id = region.submit()["id"]
    offer = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"#{case_id}"))
    expect(offer).to_contain_text(visit.p_("case", "to validate"))
    offer.get_by_role("button", name=_("Accept"), exact=True).click()

    expect(page).to_have_url(re.compile(rf"/expert/cases/{case_id}$"))
    expect(page.get_by_text("Fall on anticoagulants")).to_be_visible()
    protocol = page.locator("select[name=protocol]")
    expect(protocol).to_be_visible()
    # Refusing needs a reason: the browser asks for it before anything is sent.
    reason = page.get_by_label(_("Reason for refusing"))
    expect(reason).to_have_attribute("required", "")
    protocol.select_option("CTA-WILLIS")
    page.get_by_label(_("Note for the technologist")).fill("Bolus tracking on the ICA")
    visit.reads_its_language()
    visit.shoot("regulation", "validate")
    for control in (protocol, reason, page.get_by_role("button", name=_("Refuse"), exact=True)):
        box = control.bounding_box()  # the whole form within the phone's width
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    page.get_by_role("button", name=_("Validate"), exact=True).click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(visit.p_("case", "validated"))
    expect(page.get_by_text("Bolus tracking on the ICA")).to_be_visible()

    visit.log_out(alice.username).click()
    visit.login(region.site_username)
    page.goto(f"/site/cases/{case_id}")
    expect(page.get_by_text("Bolus tracking on the ICA")).to_be_visible()
    expect(page.locator(".protocol")).to_contain_text("CTA-WILLIS")
    visit.reads_its_language()
    visit.shoot("regulation", "site")
    page.get_by_role("button", name=_("Scan done"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(visit.p_("case", "accepted"))
    region.wait_status(case_id, "accepted")
    assert region.case(case_id)["assigned_expert"] == alice.code
