"""The billing pages on the real stack: totals and charts for coordinators, the month's invoices
issued by an admin and downloaded, a site's tariff with its versions, its form and its week of
prices; and, in chromium, both pages at a phone's width."""

from __future__ import annotations

import html
import re
import secrets
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from billing.tariffs import local_today
from garde.domain import Role
from garde.models import BillingLine, Expert, Site
from tests.conftest import PASSWORD, Region, Stack, add_login, on_sqlite_only
from tests.garde.test_analytics import record_case
from tests.web.test_pages import Browser, coordinator


def login_as(stack: Stack, role: Role) -> tuple[Browser, str]:
    username = f"{role.value}-" + secrets.token_hex(3)
    with stack.sessions.begin() as s:
        add_login(s, username, role)
    return Browser(stack).login(username), username


def bill(region: Region, at: datetime, band: str, cents: int, modality: str = "CT") -> None:
    """A billing line as the workflow records it, for a final case of the region's site."""
    with region.stack.sessions.begin() as s:
        site = s.scalars(select(Site).where(Site.code == region.site)).one()
        alice = s.scalars(select(Expert).where(Expert.code == region.experts["alice"].code)).one()
        case = record_case(s, site, at - timedelta(minutes=30), "urgent", 5, 30, alice)
        s.add(
            BillingLine(
                case_id=case.id,
                site_id=site.id,
                expert_id=alice.id,
                modality=modality,
                priority="urgent",
                time_band=band,
                bands=[band] if band != "day" else [],
                parts=[{"what": "base", "cents": cents}],
                amount_cents=cents,
                expert_share_cents=cents * 7 // 10,
                currency="EUR",
                tariff_version=1,
                priced_at=at,
                read_at=at,
            )
        )


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_coordinators_see_the_months_totals_and_an_admin_issues_the_invoices(
    region: Region,
) -> None:
    stack = region.stack
    # 23:30 in Paris on 14 July (a holiday night), a weekday MR, and 00:30 in Paris on
    # 1 August (22:30 UTC on 31 July): August's, on the site's clock.
    bill(region, datetime(2025, 7, 14, 21, 30, tzinfo=UTC), "holiday", 15000)
    bill(region, datetime(2025, 7, 16, 9, 0, tzinfo=UTC), "day", 5000, "MR")
    bill(region, datetime(2025, 7, 31, 22, 30, tzinfo=UTC), "night", 10000)
    period = {"from": "2025-07", "to": "2025-08", "site": region.site}

    staff = coordinator(stack)
    page = staff.get("/coordinator/billing", params=period)
    assert page.status_code == 200, page.text[:300]
    said = text_of(page.text)
    assert "300.00 EUR Amount billed" in said
    assert "July 2025 2 200.00 140.00" in said and "August 2025 1 100.00 70.00" in said
    assert "Public holiday 50.0 % 150.00 EUR · 1 read" in said
    assert "Night 33.3 % 100.00 EUR" in said and "MR 1 50.00 35.00" in said
    assert '<svg class="month-bars"' in page.text and "<desc id=" in page.text
    assert '<rect class="band-holiday" x="50.0%" y="0" width="50.0%"' in page.text
    assert "Issue the month" not in page.text  # an admin's

    bad = staff.get("/coordinator/billing", params={**period, "to": "2025-06"})
    assert bad.status_code == 400 and "must be on or after from" in bad.text
    assert 'value="2025-06"' in bad.text

    admin, _ = login_as(stack, Role.ADMIN)
    refused = staff.submit(
        "/coordinator/billing", "/coordinator/billing/invoices", {"month": "2025-07"}
    )
    assert refused.status_code == 403
    issued = admin.submit(
        "/coordinator/billing",
        "/coordinator/billing/invoices",
        {"month": "2025-07", "site": region.site},
    )
    assert issued.status_code == 302, issued.text[:500]
    shown = admin.get(issued.headers["Location"])
    number = re.search(r"<b>(\d{4}-\d{6})</b>", shown.text)
    assert number, text_of(shown.text)[:2000]
    assert "1 invoices issued for 2025-07" in text_of(shown.text)
    pdf = f"/api/v1/invoices/{number[1]}?format=pdf"
    assert f'href="{pdf}"' in shown.text
    assert f'href="/api/v1/invoices/{number[1]}?format=csv"' in shown.text
    download = admin.get(pdf)
    assert download.status_code == 200 and download.content.startswith(b"%PDF")

    for login in (region.experts["alice"].username, region.site_username):
        other = Browser(stack).login(login)
        assert other.get("/coordinator/billing", params=period).status_code == 403
        assert other.get(f"/coordinator/sites/{region.site}/tariff").status_code == 403


def next_holiday(after: date) -> date:
    """The first 14 July or 11 November after `after`: a holiday on a weekday or a Sunday."""
    return min(
        d
        for year in (after.year, after.year + 1)
        for d in (date(year, 7, 14), date(year, 11, 11))
        if d > after
    )


def test_a_tariff_version_is_added_from_its_page_and_previewed_on_a_holiday_week(
    region: Region,
) -> None:
    stack = region.stack
    staff = coordinator(stack)
    page = f"/coordinator/sites/{region.site}/tariff"
    shown = staff.get(page)
    assert shown.status_code == 200, shown.text[:300]
    said = text_of(shown.text)
    assert "1 in force" in said and "CT 90.00 EUR , MR 120.00 EUR" in said
    assert 'name="base_cents" type="text" value="CT=9000, MR=12000"' in shown.text

    tomorrow = local_today("Europe/Paris") + timedelta(days=1)
    form = {
        "valid_from": tomorrow.isoformat(),
        "currency": "EUR",
        "base_cents": "CT=90 euros",
        "expert_share_percent": "150",
        "night_cents": "2500",
        "holiday_percent": "50",
        "holidays": "FR",
        "night_start": "20:00",
        "night_end": "08:00",
        "priced_at": "acceptance",
    }
    bad = staff.submit(page, page, form)
    assert bad.status_code == 400
    assert 'id="base_cents-error"' in bad.text and "must read NAME=cents" in bad.text
    assert 'value="CT=90 euros"' in bad.text  # kept as typed
    assert 'id="expert_share_percent-error"' in bad.text and 'value="150"' in bad.text
    assert "must be between 0 and 100" in bad.text

    added = staff.submit(
        page, page, {**form, "base_cents": "CT=9000, MR=12000", "expert_share_percent": "65"}
    )
    assert added.status_code == 302, text_of(added.text)[:1000]
    after = staff.get(page)
    assert "Version 2 of the tariff added" in text_of(after.text)
    assert (
        "upcoming" in after.text
        and "Night +25.00 EUR" in text_of(after.text)
        and "Public holiday +50 %" in text_of(after.text)
    )

    holiday = next_holiday(tomorrow)
    preview = staff.get(
        page, params={"week": holiday.isoformat(), "modality": "CT", "priority": "urgent"}
    )
    assert preview.status_code == 200
    name = {date(holiday.year, 7, 14): "National Day", date(holiday.year, 11, 11): "Armistice"}
    assert name[holiday] in preview.text
    rows = re.findall(
        r"<tr>\s*<th scope=\"row\" class=\"hour\">(\d\d):00</th>(.*?)</tr>", preview.text, re.S
    )
    cells = {hour: re.findall(r'<td class="([^"]+)"[^>]*>([^<]*)</td>', row) for hour, row in rows}
    column = holiday.weekday()
    assert cells["10"][column] == ("band-holiday", "135")  # 90 + 50 %
    assert cells["22"][column] == ("band-holiday", "135")  # the highest of holiday and night
    other = (column + 1) % 7 if holiday.weekday() != 5 else column - 1  # a weekday, not Sunday
    assert cells["22"][other] == ("band-night", "115")  # 90 + 25
    assert cells["10"][other] == ("band-day", "90")

    stat = staff.get(
        page, params={"week": holiday.isoformat(), "modality": "MR", "priority": "stat"}
    )
    assert stat.status_code == 200 and "MR read, stat" in text_of(stat.text)
    assert staff.get(f"/coordinator/sites/NO-{secrets.token_hex(3)}/tariff").status_code == 404
    admin, _ = login_as(stack, Role.ADMIN)
    assert f'href="{page}"' in admin.get(f"/admin/sites/{region.site}").text


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no `chromium` on the PATH")
def test_the_billing_and_tariff_pages_fit_a_phone(region: Region, database_url: str) -> None:
    on_sqlite_only(database_url, "the pages' layout is the same whatever the database")
    from playwright.sync_api import sync_playwright

    stack = region.stack
    bill(region, datetime(2025, 12, 25, 10, 0, tzinfo=UTC), "holiday", 13500)
    bill(region, datetime(2025, 11, 3, 21, 0, tzinfo=UTC), "night", 11500)
    bill(region, datetime(2025, 10, 6, 9, 0, tzinfo=UTC), "day", 9000)
    _, username = login_as(stack, Role.ADMIN)
    pages = {
        "billing": f"/coordinator/billing?from=2025-01&to=2025-12&site={region.site}",
        "tariff": f"/coordinator/sites/{region.site}/tariff?week=2025-12-22",
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )
        try:
            for width, height in ((390, 844), (1280, 800)):
                context = browser.new_context(
                    base_url=stack.url,
                    viewport={"width": width, "height": height},
                    is_mobile=width < 500,
                    locale="fr-FR",
                )
                page = context.new_page()
                page.goto("/login")
                page.locator('input[name="username"]').fill(username)
                page.locator('input[name="password"]').fill(PASSWORD)
                page.locator('input[name="password"]').press("Enter")
                page.wait_for_url(lambda url: "/login" not in url)
                for name, path in pages.items():
                    page.goto(path)
                    over = page.evaluate(
                        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                    )
                    assert over <= 0, f"{name} at {width} px scrolls sideways by {over} px"
                    page.screenshot(
                        path=str(Path("/tmp") / f"pages-{name}-{width}.png"), full_page=True
                    )
                context.close()
        finally:
            browser.close()
