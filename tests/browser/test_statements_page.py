"""The expert's statements page in the browser, at each language and width: twelve months,
each with its share and its downloads, within a phone's width; the PDF link downloads."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from billing.months import month_of
from garde.models import utcnow
from tests.billing.test_statements import lines_of
from tests.browser.layout import inside, overrun_labels
from tests.browser.visit import Visit
from tests.conftest import Region

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_the_statements_page_fits_and_downloads(visit: Visit, region: Region) -> None:
    alice = region.experts["alice"]
    now = utcnow()
    lines_of(region, "alice", 123456, at=now)
    visit.login(alice.username)
    visit.page.goto("/expert/statements")
    visit.reads_its_language()
    rows = visit.page.locator("table.statements tbody tr")
    expect(rows).to_have_count(12)
    row = visit.page.locator(f"#month-{month_of(now, 'Europe/Paris')}")
    expect(row).to_contain_text("1" + ("\u202f" if visit.language == "fr" else ",") + "234")
    pdf = row.get_by_role("link", name="PDF", exact=False)
    assert inside(pdf, visit.page.locator("main"))
    assert overrun_labels(visit.page.locator("table.statements")) == []
    with visit.page.expect_download() as download:
        pdf.click()
    assert download.value.suggested_filename.endswith(".pdf")
    visit.shoot("statements")
