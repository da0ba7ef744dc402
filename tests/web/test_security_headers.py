"""Security headers on every kind of response, and pages that run no inline script, so that
the Content-Security-Policy (scripts from Garde's own files only) holds on every page."""

from __future__ import annotations

import re
import secrets
from html.parser import HTMLParser

import requests

from garde.domain import Role
from tests.conftest import Region, Stack, add_login, on_sqlite_only
from tests.web.test_pages import Browser, coordinator

STATIC_SCRIPTS = ("forms.js", "live.js", "roster_today.js")


def _protected(r: requests.Response) -> None:
    assert r.status_code == 200, r.text[:300]
    policy = r.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    # Chrome's PDF viewer is a plugin loading the PDF itself; pages load none.
    plugins = "'self'" if r.headers["Content-Type"] == "application/pdf" else "'none'"
    assert directives["object-src"] == plugins
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] in ("no-referrer", "same-origin")


def _not_stored(r: requests.Response) -> None:
    _protected(r)
    assert r.headers["Cache-Control"] == "no-store"


def _final_case(region: Region) -> int:
    case_id: int = region.submit()["id"]
    alice = region.stack.api(region.experts["alice"].token)
    assert alice.post(f"/api/v1/cases/{case_id}/accept").status_code == 200
    report = {"kind": "final", "findings": "Left subdural haematoma.", "impression": "SDH"}
    assert alice.post(f"/api/v1/cases/{case_id}/report", json=report).status_code == 201
    region.wait_status(case_id, "final")
    return case_id


def test_pages_api_reports_and_pdfs_carry_the_headers_and_are_never_cached(
    region: Region,
) -> None:
    case_id = _final_case(region)
    site = Browser(region.stack).login(region.site_username)
    _not_stored(site.get(f"/site/cases/{case_id}"))
    _not_stored(site.get("/login"))
    api = region.stack.api(region.site_token)
    _not_stored(api.get(f"/api/v1/cases/{case_id}"))
    for fmt in ("json", "html", "pdf", "fhir", "hl7"):
        r = api.get(f"/api/v1/cases/{case_id}/report", params={"format": fmt})
        _not_stored(r)
    assert r.headers["Content-Type"].startswith("application/hl7-v2")
    pdf = api.get(f"/api/v1/cases/{case_id}/report", params={"format": "pdf"})
    assert pdf.content.startswith(b"%PDF")
    refused = api.get("/api/v1/cases/999999999")
    assert refused.status_code == 404 and refused.headers["Cache-Control"] == "no-store"
    assert refused.headers["X-Content-Type-Options"] == "nosniff"


def test_static_files_carry_the_headers_and_may_be_cached(stack: Stack) -> None:
    for name in ("style.css", *(f"js/{s}" for s in STATIC_SCRIPTS)):
        r = requests.get(f"{stack.url}/static/{name}", timeout=30)
        _protected(r)
        assert "no-store" not in r.headers.get("Cache-Control", "")
    assert "javascript" in r.headers["Content-Type"]


class _Scripts(HTMLParser):
    """What a page would run: inline scripts, handler attributes, and the script files."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            if found.get("src"):
                self.sources.append(found["src"] or "")
            else:
                self.inline.append(self.get_starttag_text() or tag)
        self.handlers += [f"<{tag} {name}=…>" for name, _ in attrs if name.startswith("on")]
        for name, value in attrs:
            if name in ("href", "action", "src") and (value or "").lower().startswith(
                "javascript:"
            ):
                self.handlers.append(f"<{tag} {name}={value}>")


def _runs_no_inline_script(browser: Browser, paths: list[str]) -> set[str]:
    """Each page parsed: no inline script, no on* handler; the script files it names."""
    sources: set[str] = set()
    for path in paths:
        r = browser.get(path)
        assert r.status_code == 200, f"{path}: {r.status_code}"
        _not_stored(r)
        page = _Scripts()
        page.feed(r.text)
        assert page.inline == [], f"{path} has inline script: {page.inline}"
        assert page.handlers == [], f"{path} has inline handlers: {page.handlers}"
        sources |= set(page.sources)
    for src in sources:
        r = browser.get(src)
        assert r.status_code == 200 and "javascript" in r.headers["Content-Type"], src
    return {re.sub(r"^/static/js/|\?.*$", "", s) for s in sources}


def test_no_page_of_any_audience_runs_inline_script(region: Region) -> None:
    on_sqlite_only(region.stack.env["GARDE_DATABASE_URL"], "the pages' HTML")
    case_id = _final_case(region)
    open_case = region.submit()["id"]
    region.wait_status(open_case, "offered")
    stack = region.stack

    site = Browser(stack).login(region.site_username)
    seen = _runs_no_inline_script(
        site, ["/login", "/site/cases", "/site/cases/new", f"/site/cases/{case_id}"]
    )
    page = site.get(f"/site/cases/{open_case}").text
    assert 'data-events="/events"' in page  # the live script's parameters, as attributes
    assert re.search(r'<time datetime="[^"]+" data-countdown', page), "deadlines count down"

    alice = Browser(stack).login(region.experts["alice"].username)
    seen |= _runs_no_inline_script(
        alice,
        [
            "/expert/",
            f"/expert/cases/{case_id}",
            f"/expert/cases/{open_case}",
            "/expert/roster",
            "/expert/settings",
        ],
    )

    staff = coordinator(stack)
    seen |= _runs_no_inline_script(
        staff,
        [
            "/coordinator/",
            f"/coordinator/cases/{case_id}",
            "/coordinator/roster",
            "/coordinator/rotations",
            "/coordinator/overrides",
            "/coordinator/unavailability",
            "/coordinator/swaps",
            "/coordinator/feeds",
            "/coordinator/coverage",
            "/coordinator/fairness",
            "/coordinator/analytics",
            "/coordinator/import",
            "/coordinator/shifts/new",
        ],
    )
    admin = f"admin-{secrets.token_hex(3)}"
    with stack.sessions.begin() as s:
        add_login(s, admin, Role.ADMIN)
    seen |= _runs_no_inline_script(
        Browser(stack).login(admin),
        [
            "/coordinator/",
            "/account/password",
            "/admin/users",
            "/admin/users/new",
            f"/admin/users/{admin}",
            "/admin/sites",
            "/admin/sites/new",
            f"/admin/sites/{region.site}",
            "/admin/experts",
            "/admin/experts/new",
            f"/admin/experts/{region.experts['alice'].code}",
            "/admin/audit",
        ],
    )
    assert seen >= set(STATIC_SCRIPTS), seen
