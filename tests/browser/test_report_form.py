"""The report form on a phone at 3 a.m.: an exam template chosen and applied, a macro inserted
at the cursor, a final filed and its signature shown, without scrolling sideways, and no
WCAG A/AA violation on the signed page."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from garde.models import ExpertMacro
from tests.browser.test_accessibility import WCAG_AA, readable
from tests.browser.visit import Visit
from tests.conftest import Region

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
MACRO = "Pas de lésion osseuse traumatique."
# A select's chosen option is drawn in the select's font; is it narrower than the room left
# beside the select's padding and arrow (about 2rem)?
NAME_FITS = """s => {
  const style = getComputedStyle(s);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = style.font;
  const text = s.options[s.selectedIndex].text;
  const room = s.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 24;
  return ctx.measureText(text).width <= room;
}"""


@pytest.mark.parametrize("visit", [("fr", "phone")], indirect=True, ids=["fr-phone"])
def test_a_template_and_a_macro_make_a_final_report_on_a_phone(
    visit: Visit, region: Region
) -> None:
    page, _ = visit.page, visit._
    alice = region.experts["alice"]
    with region.stack.sessions.begin() as s:
        s.add(ExpertMacro(expert_id=alice.id, name="os", body=MACRO))
    case_id = region.submit()["id"]
    visit.login(alice.username)
    page.goto("/expert/settings/macros")  # the expert's own macros, at 390 px too
    expect(page.get_by_label(_("Text")).first).to_have_value(MACRO)
    visit.reads_its_language()
    visit.shoot("report-form", "macros")
    page.goto(f"/expert/cases/{case_id}")
    page.get_by_role("button", name=_("Accept"), exact=True).click()
    expect(page).to_have_url(re.compile(rf"/expert/cases/{case_id}$"))

    # The template that fits the case (a CT head after a fall) is the one offered.
    chooser = page.get_by_label(_("Exam template"))
    expect(chooser).to_have_value("ct_head_trauma")
    # Its whole name shows, on a desktop too (it was cut: "TDM cérébrale — traum…").
    page.set_viewport_size({"width": 1280, "height": 800})
    chooser.select_option("ct_angio_pe")  # the longest name
    assert chooser.evaluate(NAME_FITS), "the exam template's name is cut on a desktop"
    page.set_viewport_size({"width": 390, "height": 844})
    chooser.select_option("ct_head_trauma")
    page.get_by_role("button", name=_("Use this template")).click()
    findings = page.get_by_label(_("Findings"))
    expect(findings).to_have_value(
        re.compile("Absence d'hémorragie intra- ou extra-axiale|No intra-")
    )
    grown = findings.evaluate("a => a.clientHeight >= a.scrollHeight - 2")
    assert grown, "the findings do not grow with their text"

    # The macro goes in where the cursor is: at the end of the impression.
    impression = page.get_by_label(_("Impression"))
    impression.click()
    impression.press("End")
    page.keyboard.press("Control+End")
    page.get_by_role("button", name="os", exact=True).click()
    expect(impression).to_have_value(re.compile(re.escape(MACRO) + "$"))
    expect(page.locator("#template")).to_have_value("ct_head_trauma")

    page.get_by_role("radio", name=_("2 urgent")).check()
    page.get_by_role("radio", name=visit.p_("report", "final"), exact=True).check()
    visit.reads_its_language()  # 390 px: nothing wider than the phone
    visit.shoot("report-form", "filled")
    page.get_by_role("button", name=_("File the report")).click()

    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(visit.p_("case", "final"))
    version = page.locator("#version-1")
    expect(version).to_contain_text(_("verified"))
    expect(version).to_contain_text(_("Critical category 2 — urgent"))
    expect(version).to_contain_text(MACRO)
    visit.reads_its_language()
    visit.shoot("report-form", "signed")

    # The site acknowledges through the API: the open page refreshes itself to show it, and
    # the filing's message stays (it is shown once; the fresh page has not got it).
    filed = page.locator("main > .flash").filter(
        has_text=_("Final report filed and sent to the site.")
    )
    expect(filed).to_be_visible()
    r = region.stack.api(region.site_token).post(f"/api/v1/cases/{case_id}/acknowledge")
    assert r.status_code == 200, r.text
    expect(version.locator(".acknowledged")).to_be_visible()
    expect(filed).to_be_visible()
    found = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA}})
    violations = found.response["violations"]
    assert not violations, readable(page.url, violations)
