"""The API's self-description, health, on-call list and roster export."""

from __future__ import annotations

import re
import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from garde.settings import Settings
from tests.conftest import Region, wait_for


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


def test_metrics_count_offers_acceptances_breaches_and_sms_failures_by_site(
    region: Region,
) -> None:
    """Alice's phone refused for good (an SMS failure, the ladder moves on), Bruno accepts
    after the accept deadline and holds the case past the report deadline."""
    stack, site = region.stack, region.site
    assert stack.twilio is not None
    stack.twilio.fail(region.experts["alice"].phone, 400, 21211)
    levels = {"urgent": {"accept_within_s": 1, "report_within_s": 2}}
    r = stack.api(region.admin_token).patch(
        f"/api/v1/sites/{site}", json={"service_levels": levels}
    )
    assert r.status_code == 200, r.text
    case = region.submit(priority="urgent")
    region.offer_sms("bruno")
    time.sleep(1)
    r = stack.api(region.experts["bruno"].token).post(f"/api/v1/cases/{case['id']}/accept")
    assert r.status_code == 200, r.text

    def by_site() -> dict[tuple[str, str], float] | None:
        scraper = {"Authorization": "Bearer " + stack.env["GARDE_METRICS_TOKEN"]}
        text = requests.get(stack.url + "/metrics", headers=scraper, timeout=10).text
        found = {
            (sample.name, sample.labels.get("deadline", "")): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.labels.get("site") == site
        }
        return found if ("garde_sla_breaches_total", "report") in found else None

    assert wait_for(by_site, what="the report deadline's breach") == {
        ("garde_offers_sent_total", ""): 2,
        ("garde_acceptances_total", ""): 1,
        ("garde_sla_breaches_total", "accept"): 1,
        ("garde_sla_breaches_total", "report"): 1,
        ("garde_sms_failures_total", ""): 1,
    }
