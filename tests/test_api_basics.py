"""The API's self-description, health, on-call list and roster export."""

from __future__ import annotations

import re

import requests

from garde.settings import Settings
from tests.conftest import Region


def test_openapi_describes_every_api_route(region: Region) -> None:
    doc = requests.get(region.stack.url + "/api/v1/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.")
    base = doc["servers"][0]["url"] if doc.get("servers") else ""
    documented = {
        (base + path, method.upper()) for path, ops in doc["paths"].items() for method in ops
    }
    from web import create_app

    app = create_app(Settings.from_env(region.stack.env))
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    assert routes == documented


def test_healthz_checks_database_and_temporal(region: Region) -> None:
    r = requests.get(region.stack.url + "/healthz", timeout=10)
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "temporal": "ok"}


def test_oncall_ranks_primary_before_backup(region: Region) -> None:
    r = region.stack.api(region.coordinator_token).get(
        "/api/v1/oncall", params={"site": region.site, "modality": "CT"}
    )
    assert r.status_code == 200, r.text
    ranked = [(e["expert"], e["tier"]) for e in r.json()]
    assert ranked == [
        (region.experts["alice"].code, "primary"),
        (region.experts["bruno"].code, "backup"),
    ]


def test_expert_reads_own_roster_as_icalendar(region: Region) -> None:
    alice = region.experts["alice"]
    r = region.stack.api(alice.token).get(f"/api/v1/experts/{alice.code}/roster.ics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/calendar")
    assert r.text.count("BEGIN:VEVENT") == 1
    other = region.experts["bruno"].code
    assert (
        region.stack.api(alice.token).get(f"/api/v1/experts/{other}/roster.ics").status_code == 403
    )


def test_metrics_count_cases_from_the_record(region: Region) -> None:
    def stat_cases() -> float:
        scraper = {"Authorization": "Bearer " + region.stack.env["GARDE_METRICS_TOKEN"]}
        text = requests.get(region.stack.url + "/metrics", headers=scraper, timeout=10).text
        assert "# TYPE garde_cases gauge" in text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("garde_cases{") and 'priority="stat"' in line
        )

    before = stat_cases()
    region.submit(priority="stat")
    assert stat_cases() == before + 1
