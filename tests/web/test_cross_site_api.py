"""Defect 2 of issue 8, as found: another site's form, riding on a logged-in user's session
cookie, created, cancelled and reported cases through the JSON API. Writes to the API now take
a bearer token and JSON only; the session cookie still reads (the case page polls a case)."""

from __future__ import annotations

from typing import Any

import requests
from sqlalchemy import func, select

from garde.models import Case, Report, Site
from tests.conftest import Region, case_request
from tests.web.test_pages import Browser

EVIL = {"Origin": "https://evil.example", "Referer": "https://evil.example/prize.html"}


def _cases_of(region: Region) -> int:
    with region.stack.sessions() as s:
        return int(
            s.scalar(select(func.count(Case.id)).join(Site).where(Site.code == region.site)) or 0
        )


def _reports_of(region: Region, case_id: int) -> int:
    with region.stack.sessions() as s:
        return int(s.scalar(select(func.count(Report.id)).where(Report.case_id == case_id)) or 0)


def _refused_for_the_cookie(r: requests.Response) -> None:
    assert r.status_code == 403, r.text
    assert set(r.json()) == {"error", "detail"}
    assert "bearer token" in r.json()["error"]


def _cross_site(browser: Browser, path: str, **kw: Any) -> requests.Response:
    """What a page on evil.example makes the user's browser send: their cookie rides along."""
    return browser.http.post(
        browser.base + path, headers=EVIL, allow_redirects=False, timeout=60, **kw
    )


def test_a_cross_site_form_with_the_cookie_creates_cancels_and_reports_nothing(
    region: Region,
) -> None:
    api = region.stack.api
    site = Browser(region.stack).login(region.site_username)
    alice = Browser(region.stack).login(region.experts["alice"].username)
    held = region.submit()
    r = api(region.experts["alice"].token).post(f"/api/v1/cases/{held['id']}/accept")
    assert r.status_code == 200, r.text
    before = _cases_of(region)

    for form in (
        {"data": case_request()},  # application/x-www-form-urlencoded
        {"files": {k: (None, v) for k, v in case_request().items()}},  # multipart/form-data
        {"json": case_request()},  # JSON, had the page found a way to send it
    ):
        _refused_for_the_cookie(_cross_site(site, "/api/v1/cases", **form))
        _refused_for_the_cookie(_cross_site(site, f"/api/v1/cases/{held['id']}/cancel", **form))
    report = {"kind": "final", "findings": "Forged.", "impression": "Forged."}
    for form in ({"data": report}, {"json": report}):
        _refused_for_the_cookie(_cross_site(alice, f"/api/v1/cases/{held['id']}/report", **form))

    assert _cases_of(region) == before
    assert _reports_of(region, held["id"]) == 0
    assert region.stack.agreed(held["id"])[0].status == "accepted"

    # The cookie still reads: the site's case page polls the case with it.
    seen = site.get(f"/api/v1/cases/{held['id']}", headers={"Accept": "application/json"})
    assert seen.status_code == 200 and seen.json()["status"] == "accepted"

    # A machine with a bearer token and a JSON body does all three, as before.
    created = api(region.site_token).post("/api/v1/cases", json=case_request())
    assert created.status_code == 201, created.text
    assert _cases_of(region) == before + 1
    filed = api(region.experts["alice"].token).post(
        f"/api/v1/cases/{held['id']}/report",
        json={"kind": "final", "findings": "No bleed.", "impression": "Normal CT."},
    )
    assert filed.status_code == 201, filed.text
    assert _reports_of(region, held["id"]) == 1
    cancelled = api(region.site_token).post(f"/api/v1/cases/{created.json()['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    region.wait_status(created.json()["id"], "cancelled")


def test_api_writes_take_json_only_even_with_a_token(region: Region) -> None:
    api = region.stack.api(region.site_token)
    before = _cases_of(region)
    for form in (
        {"data": case_request()},
        {"files": {k: (None, v) for k, v in case_request().items()}},
        {"data": "{}", "headers": {"Content-Type": "text/plain"}},
    ):
        r = api.post("/api/v1/cases", **form)
        assert r.status_code == 415, r.text
        assert "application/json" in r.json()["error"]
        assert "must be application/json" in r.json()["detail"]["Content-Type"]
    case = region.submit()
    r = api.post(f"/api/v1/cases/{case['id']}/cancel", data={"reason": "a form"})
    assert r.status_code == 415, r.text
    assert _cases_of(region) == before + 1
    assert region.case(case["id"])["status"] != "cancelled"
