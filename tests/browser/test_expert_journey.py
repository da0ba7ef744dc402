"""An expert on duty takes an offer on the web and files the final report; the site then finds
the report on its case's page, in every format a hospital's systems take."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.visit import Visit
from tests.conftest import Region

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_an_expert_accepts_an_offer_and_reports_and_the_site_reads_it(
    visit: Visit, region: Region
) -> None:
    page, _ = visit.page, visit._
    alice = region.experts["alice"]
    visit.login(alice.username)
    expect(page.get_by_role("heading", name=_("Worklist"))).to_be_visible()
    case_id = region.submit()["id"]

    # The offer arrives on the open worklist by itself.
    offer = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"#{case_id}"))
    expect(offer).to_be_visible()
    expect(page.get_by_role("heading", name=_("Offered to me now"))).to_be_visible()
    visit.reads_its_language()
    visit.shoot("expert", "worklist")
    offer.get_by_role("button", name=_("Accept"), exact=True).click()

    expect(page).to_have_url(re.compile(rf"/expert/cases/{case_id}$"))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(visit.p_("case", "accepted"))
    expect(page.get_by_text("Fall on anticoagulants")).to_be_visible()  # now the expert's
    page.get_by_role("radio", name=visit.p_("report", "final"), exact=True).check()
    page.get_by_label(_("Findings")).fill("No intracranial haemorrhage.")
    page.get_by_label(_("Impression")).fill("Normal CT head.")
    visit.reads_its_language()
    visit.shoot("expert", "report")
    page.get_by_role("button", name=_("File the report")).click()
    expect(heading).to_contain_text(visit.p_("case", "final"))
    expect(page.get_by_text("Normal CT head.")).to_be_visible()

    visit.log_out(alice.username).click()
    visit.login(region.site_username)
    page.goto(f"/site/cases/{case_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(visit.p_("case", "final"))
    expect(page.get_by_text("No intracranial haemorrhage.")).to_be_visible()
    formats = {"PDF": "pdf", "HTML": "html", "FHIR": "fhir", "HL7 v2": "hl7"}
    for label, fmt in formats.items():
        link = page.get_by_role("link", name=label, exact=True)
        expect(link).to_have_attribute("href", f"/api/v1/cases/{case_id}/report?format={fmt}")
        box = link.bounding_box()  # a target a thumb finds
        assert box is not None and box["height"] >= 44, f"{label} is {box} on the page"
    visit.reads_its_language()
    visit.shoot("expert", "site-reads")
    pdf = page.request.get(f"/api/v1/cases/{case_id}/report?format=pdf")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
