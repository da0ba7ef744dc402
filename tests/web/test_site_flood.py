"""A site cannot slow every expert (issue 8, defect 11).

As found: 200 unassigned cases made each expert request 30 times slower, a roster query per
case. Now an expert's worklist, case list, case JSON and pages ask the same number of SQL
statements for 5 open cases as for 200 (counted, not timed), and a site sends at most
GARDE_CASES_PER_SITE_PER_HOUR new cases an hour.

The web app runs in this process, served over real HTTP beside the stack's and on the same
database and Temporal, so that its statements can be counted (SQLAlchemy's
`before_cursor_execute`) and its settings can differ without a new stack.
"""

from __future__ import annotations

import html
import itertools
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select, update
from werkzeug.serving import make_server

from garde import vocabulary
from garde.domain import CaseStatus
from garde.models import Case, Site, utcnow
from garde.settings import Settings
from tests.conftest import Stack, case_request, make_region
from tests.statements import statements
from tests.web.test_pages import Browser


@dataclass
class CountedWeb:
    """The web app on a loopback port of this process, its SQL statements counted."""

    url: str
    engine: Engine
    statements: list[str] = field(default_factory=list)

    def count(self, request: Callable[[], requests.Response]) -> int:
        """How many SQL statements the app ran to answer this request (which must succeed)."""
        self.statements.clear()
        response = request()
        assert response.status_code == 200, response.text[:500]
        return len(self.statements)


@contextmanager
def web_in_process(stack: Stack, **env: str) -> Iterator[CountedWeb]:
    from web import create_app

    app = create_app(Settings.from_env({**stack.env, **env}))
    engine: Engine = app.extensions["garde"].sessions.kw["bind"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with statements(engine) as seen:
            yield CountedWeb(f"http://127.0.0.1:{server.server_port}", engine, seen)
    finally:
        server.shutdown()
        thread.join()
        engine.dispose()


Kind = tuple[str, str | None, str]  # modality, subspecialty, site


def add_open_cases(stack: Stack, kinds: list[Kind], count: int) -> list[int]:
    """Unassigned cases of these kinds in turn, as if routing had started: marked started so
    that the reconciler leaves them be (no workflow is needed to list them)."""
    sites = {site for _, _, site in kinds}
    cycle = itertools.cycle(kinds)
    with stack.sessions.begin() as s:
        site_ids = dict(s.execute(select(Site.code, Site.id).where(Site.code.in_(sites))).all())
        cases = []
        for _ in range(count):
            modality, subspecialty, site = next(cycle)
            cases.append(
                Case(
                    site_id=site_ids[site],
                    accession_number="FLOOD-" + secrets.token_hex(6),
                    modality=modality,
                    body_part="HEAD",
                    study_description="CT head",
                    priority="routine",
                    clinical_question="Flood",
                    requesting_physician="Dr Flood",
                    callback_phone="+33471000000",
                    subspecialty=subspecialty,
                    status=CaseStatus.REQUESTED,
                    offer_timeout_s=900,
                    accept_within_s=7200,
                    report_within_s=86400,
                    escalation=[],
                    requested_at=utcnow(),
                    workflow_started_at=utcnow(),
                )
            )
        s.add_all(cases)
        s.flush()
        return [c.id for c in cases]


def close(stack: Stack, case_ids: list[int]) -> None:
    with stack.sessions.begin() as s:
        s.execute(
            update(Case).where(Case.id.in_(case_ids)).values(status=CaseStatus.CANCELLED.value)
        )


def test_an_expert_asks_as_many_statements_for_200_open_cases_as_for_5(stack: Stack) -> None:
    """5 cases of one kind, then 195 more of every kind on two sites: each expert request
    asks the same number of statements."""
    region = make_region(stack)
    sites = (region.site, region.site.replace("SITE-", "ELSEWHERE-"))
    every_kind = list(itertools.product(("CT", "MR"), (None, *vocabulary.SUBSPECIALTIES), sites))
    alice = region.experts["alice"]  # CT and MR, neuro, credentialed for the first site
    added = add_open_cases(stack, [("CT", None, region.site)], 5)
    try:
        with web_in_process(stack) as web:
            api = requests.Session()
            api.headers["Authorization"] = f"Bearer {alice.token}"
            page = Browser(stack)
            page.base = web.url
            page.login(alice.username)
            one = added[0]
            asks: dict[str, Callable[[], requests.Response]] = {
                "worklist": lambda: api.get(web.url + "/api/v1/worklist", timeout=60),
                "cases": lambda: api.get(web.url + "/api/v1/cases", timeout=60),
                "case": lambda: api.get(web.url + f"/api/v1/cases/{one}", timeout=60),
                "worklist page": lambda: page.get("/expert/"),
                "case page": lambda: page.get(f"/expert/cases/{one}"),
            }
            for ask in asks.values():  # the first connection's own questions are not counted
                ask()
            few = {name: web.count(ask) for name, ask in asks.items()}
            assert len(api.get(web.url + "/api/v1/worklist").json()["open"]) == 5
            added += add_open_cases(stack, every_kind, 195)
            takeable = [k for k in every_kind if k[1] in (None, "neuro") and k[2] == region.site]
            open_now = api.get(web.url + "/api/v1/worklist").json()["open"]
            assert len(open_now) > 5 and {
                (c["modality"], c["subspecialty"], c["site"]) for c in open_now
            } == set(takeable)
            many = {name: web.count(ask) for name, ask in asks.items()}
    finally:
        close(stack, added)
    assert many == few


def submit(api: requests.Session, url: str, **overrides: Any) -> requests.Response:
    return api.post(url + "/api/v1/cases", json=case_request(**overrides), timeout=60)


def test_a_site_sends_at_most_its_hourly_allowance_of_new_cases(stack: Stack) -> None:
    region, other = make_region(stack, on_duty=()), make_region(stack, on_duty=())
    with web_in_process(stack, GARDE_CASES_PER_SITE_PER_HOUR="3") as web:
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {region.site_token}"
        sent = [submit(api, web.url) for _ in range(2)]
        # A request sent again is answered as before and does not count.
        again = submit(api, web.url, accession_number=sent[0].json()["accession_number"])
        assert again.status_code == 200 and again.json()["id"] == sent[0].json()["id"]
        sent.append(submit(api, web.url))
        assert [r.status_code for r in sent] == [201, 201, 201]
        refused = submit(api, web.url, accession_number="ONE-TOO-MANY")
        assert refused.status_code == 429, refused.text
        body = refused.json()
        assert body["error"] == "too many requests"
        assert "at most 3 new cases per hour per site" in body["detail"]
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
        with stack.sessions() as s:
            assert s.scalar(select(Case.id).where(Case.accession_number == "ONE-TOO-MANY")) is None
        # The form says it above the values typed, which are kept.
        browser = Browser(stack)
        browser.base = web.url
        browser.login(region.site_username)
        typed = case_request(clinical_question="Typed at 3 a.m., kept")
        r = browser.submit("/site/cases/new", "/site/cases/new", typed)
        assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 3600
        assert "3 new cases per hour per site" in html.unescape(r.text)
        assert "Typed at 3 a.m., kept" in html.unescape(r.text)
        # Another site has its own allowance.
        theirs = requests.Session()
        theirs.headers["Authorization"] = f"Bearer {other.site_token}"
        assert submit(theirs, web.url).status_code == 201


def test_the_hourly_allowance_is_a_positive_number() -> None:
    env = {"GARDE_SECRET_KEY": "not read"}
    assert Settings.from_env(env).cases_per_site_per_hour == 60
    for wrong in ("0", "-1", "many"):
        with pytest.raises(ValueError, match="GARDE_CASES_PER_SITE_PER_HOUR"):
            Settings.from_env({**env, "GARDE_CASES_PER_SITE_PER_HOUR": wrong})
