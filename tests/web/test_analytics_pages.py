"""The analytics page and its JSON: for coordinators only, with the region's numbers."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from garde.models import Expert, Site
from tests.conftest import Region
from tests.garde.test_analytics import record_case
from tests.web.test_pages import Browser, coordinator


def test_a_coordinator_sees_the_regions_numbers_and_others_are_refused(
    shared_region: Region,
) -> None:
    stack = shared_region.stack
    with stack.sessions.begin() as s:
        site = s.scalars(select(Site).where(Site.code == shared_region.site)).one()
        alice = s.scalars(
            select(Expert).where(Expert.code == shared_region.experts["alice"].code)
        ).one()
        # Tuesday 4 March 2025, 09:00 and 09:30 UTC (10:00 and 10:30 in Paris).
        record_case(s, site, datetime(2025, 3, 4, 9, 0, tzinfo=UTC), "urgent", 4, 20, alice)
        record_case(s, site, datetime(2025, 3, 4, 9, 30, tzinfo=UTC), "urgent", 30, 90, alice)
        reader = {"code": alice.code, "name": alice.name, "reads": 2}
    period = {"from": "2025-03-01", "to": "2025-03-31", "site": shared_region.site}

    staff = coordinator(stack)
    page = staff.get("/coordinator/analytics", params=period)
    assert page.status_code == 200, page.text[:300]
    assert 'data-url="/coordinator/analytics.json?' in page.text
    assert "/static/vendor/chart.umd.min.js" in page.text and "2 cases requested." in page.text

    data = staff.get("/coordinator/analytics.json", params=period).json()
    assert data["cases"] == 2 and data["site"] == shared_region.site
    accept = data["times"]["accept"]["site"][shared_region.site]
    assert (accept["count"], accept["p50_s"], accept["max_s"]) == (2, 1020, 1800)
    kept = data["compliance"]["month"]["2025-03"]
    assert (kept["accept"]["met"], kept["accept"]["missed"]) == (1, 1)
    assert (kept["report"]["met"], kept["report"]["missed"], kept["report"]["met_share"]) == (
        1,
        1,
        0.5,
    )
    assert data["volume"][1][10] == 2  # Tuesday, 10:00 in Paris
    assert data["reads"] == [reader]

    bad = staff.get("/coordinator/analytics", params={**period, "to": "2025-02-01"})
    assert bad.status_code == 400 and "must be on or after from" in bad.text
    assert 'value="2025-02-01"' in bad.text  # the typed value kept

    for login in (shared_region.experts["alice"].username, shared_region.site_username):
        other = Browser(stack).login(login)
        assert other.get("/coordinator/analytics", params=period).status_code == 403
        assert other.get("/coordinator/analytics.json", params=period).status_code == 403
