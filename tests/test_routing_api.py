"""The routing contract over HTTP: a site's service levels and ladder, coordinators, and what
a coordinator or a site does to a case (reassign, priority), as api.md names them."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from garde.models import AuditEvent
from tests.conftest import Region, wait_for


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _offers(region: Region, case_id: int, count: int) -> list[dict[str, Any]]:
    return wait_for(
        lambda: len(offers := region.case(case_id)["offers"]) >= count and offers,
        what=f"{count} offers",
    )


def test_site_contract_is_read_changed_and_copied_onto_each_new_case(region: Region) -> None:
    api = region.stack.api(region.coordinator_token)
    site = api.get(f"/api/v1/sites/{region.site}").json()
    assert site["service_levels"]["urgent"] == {
        "offer_timeout_s": 300,
        "accept_within_s": 1200,
        "report_within_s": 3600,
        "validate_within_s": 600,
    }
    assert site["escalation"]["stat"] == ["primary", "backup", "broadcast", "coordinator"]
    before = region.submit(priority="urgent")

    r = api.patch(
        f"/api/v1/sites/{region.site}",
        json={
            "service_levels": {"urgent": {"offer_timeout_s": 60}},
            "escalation": {"stat": ["broadcast", "coordinator"]},
        },
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["service_levels"]["urgent"] == {
        "offer_timeout_s": 60,
        "accept_within_s": 1200,
        "report_within_s": 3600,
        "validate_within_s": 600,
    }
    assert changed["service_levels"]["stat"]["offer_timeout_s"] == 180
    assert changed["escalation"]["stat"] == ["broadcast", "coordinator"]
    assert changed["escalation"]["urgent"] == ["primary", "backup", "broadcast", "coordinator"]

    # A new case carries the new promise; the earlier one keeps its own.
    after = region.submit(priority="urgent")
    offer = _offers(region, after["id"], 1)[0]
    assert _at(offer["expires_at"]) - _at(offer["sent_at"]) == timedelta(seconds=60)
    earlier = _offers(region, before["id"], 1)[0]
    assert _at(earlier["expires_at"]) - _at(earlier["sent_at"]) == timedelta(seconds=300)
    # A stat case is broadcast at once, to both experts on duty for the site.
    stat = region.submit(priority="stat")
    offers = _offers(region, stat["id"], 2)
    assert {o["step"] for o in offers} == {"broadcast"}
    assert {o["expert"] for o in offers} == {
        region.experts["alice"].code,
        region.experts["bruno"].code,
    }


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        (
            {"service_levels": {"urgent": {"offer_timeout_s": 0}}},
            "service_levels.urgent.offer_timeout_s",
            "between 1 second",
        ),
        (
            {"service_levels": {"soon": {"offer_timeout_s": 60}}},
            "service_levels.soon",
            "not a priority",
        ),
        (
            {"service_levels": {"stat": {"accept_within_s": 3600, "report_within_s": 60}}},
            "service_levels.stat.report_within_s",
            "not be shorter",
        ),
        ({"escalation": {"stat": ["primary", "pager"]}}, "escalation.stat", "steps from"),
        ({"escalation": {"stat": ["primary", "primary"]}}, "escalation.stat", "twice"),
        ({"escalation": {"stat": ["coordinator"]}}, "escalation.stat", "offer the case"),
        ({"escalation": {"stat": []}}, "escalation.stat", "non-empty"),
        ({"code": "NEW"}, "code", "cannot change"),
        ({"language": "de"}, "language", "fr or en"),
    ],
)
def test_bad_site_contract_is_refused_naming_the_field(
    region: Region, payload: dict[str, Any], field: str, reason: str
) -> None:
    api = region.stack.api(region.coordinator_token)
    before = api.get(f"/api/v1/sites/{region.site}").json()
    r = api.patch(f"/api/v1/sites/{region.site}", json={"name": "Changed", **payload})
    assert r.status_code == 400, r.text
    assert reason in r.json()["detail"][field]
    assert api.get(f"/api/v1/sites/{region.site}").json() == before


def test_site_contract_is_for_staff_only(region: Region) -> None:
    path = f"/api/v1/sites/{region.site}"
    assert region.stack.api(region.site_token).get(path).status_code == 403
    r = region.stack.api(region.site_token).patch(path, json={"name": "Mine"})
    assert r.status_code == 403
    assert region.stack.api(region.coordinator_token).get("/api/v1/sites/NOPE").status_code == 404


def test_coordinators_are_added_by_an_admin_and_linked_to_their_login(region: Region) -> None:
    admin = region.stack.api(region.admin_token)
    code = "COORD-" + secrets.token_hex(3).upper()
    coordinator_login = _coordinator_username(region)
    person = {
        "code": code,
        "name": "Régulation",
        "phone": "+33465719999",
        "language": "en",
        "username": coordinator_login,
    }
    r = region.stack.api(region.coordinator_token).post("/api/v1/coordinators", json=person)
    assert r.status_code == 403
    r = admin.post("/api/v1/coordinators", json=person)
    assert r.status_code == 201, r.text
    assert r.json() == {**person, "active": True}
    listed = admin.get("/api/v1/coordinators").json()
    assert person["code"] in [c["code"] for c in listed]
    again = admin.post("/api/v1/coordinators", json={**person, "code": code + "X", "phone": "0465"})
    assert again.status_code == 400
    assert {"phone", "username"} <= set(again.json()["detail"])
    unknown = admin.post(
        "/api/v1/coordinators", json={**person, "code": code + "Y", "username": "nobody-here"}
    )
    assert "no login" in unknown.json()["detail"]["username"]


def _coordinator_username(region: Region) -> str:
    from garde.accounts import user_for_token

    with region.stack.sessions() as s:
        user = user_for_token(s, region.coordinator_token)
        assert user is not None
        return user.username


def test_coordinator_reassigns_a_case_forcing_only_with_a_reason(region: Region) -> None:
    stack = region.stack
    alice, bruno, chloe = (region.experts[n] for n in ("alice", "bruno", "chloe"))
    case = region.submit()
    assert stack.api(alice.token).post(f"/api/v1/cases/{case['id']}/accept").status_code == 200
    coordinator = stack.api(region.coordinator_token)
    path = f"/api/v1/cases/{case['id']}/reassign"

    r = coordinator.post(path, json={"expert": bruno.code, "reason": "alice is scrubbed in"})
    assert r.status_code == 200, r.text
    assert r.json()["assigned_expert"] == bruno.code
    assert stack.twilio is not None
    wait_for(lambda: [m for m in stack.twilio.to(alice.phone) if "réattribué" in m.body])  # type: ignore[union-attr]
    wait_for(lambda: [m for m in stack.twilio.to(bruno.phone) if "est à vous" in m.body])  # type: ignore[union-attr]

    # chloe is on duty elsewhere, not credentialed here: only by force, with a reason.
    r = coordinator.post(path, json={"expert": chloe.code})
    assert r.status_code == 403 and "not eligible" in r.json()["error"]
    r = coordinator.post(path, json={"expert": chloe.code, "force": True})
    assert r.status_code == 400 and "reason" in r.json()["detail"]
    r = coordinator.post(path, json={"expert": "NOBODY", "force": True, "reason": "x"})
    assert r.status_code == 400 and "no expert" in r.json()["detail"]["expert"]
    r = coordinator.post(path, json={"expert": chloe.code, "force": True, "reason": "night cover"})
    assert r.status_code == 200, r.text
    assert r.json()["assigned_expert"] == chloe.code
    with stack.sessions() as s:
        audited = s.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.action == "case.reassign", AuditEvent.target == f"case:{case['id']}"
            )
        ).all()
    assert any("forced: night cover" in d for d in audited)
    timeline = [e for e in region.case(case["id"])["timeline"] if e["kind"] == "reassigned"]
    assert [e["expert"] for e in timeline] == [bruno.code, chloe.code]
    # A site or an expert may not reassign.
    assert stack.api(region.site_token).post(path, json={"expert": alice.code}).status_code == 403
    assert stack.api(alice.token).post(path, json={"expert": alice.code}).status_code == 403


def test_priority_change_recomputes_the_deadlines_from_the_request(region: Region) -> None:
    case = region.submit(priority="routine")
    requested = _at(case["requested_at"])
    assert case["sla"]["accept"]["within_s"] == 7200
    r = region.stack.api(region.site_token).post(
        f"/api/v1/cases/{case['id']}/priority", json={"priority": "stat"}
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["priority"] == "stat"
    assert changed["sla"]["accept"]["within_s"] == 600
    assert _at(changed["sla"]["accept"]["due"]) == requested + timedelta(minutes=10)
    assert _at(changed["sla"]["report"]["due"]) == requested + timedelta(minutes=30)
    assert "priority_changed" in [e["kind"] for e in changed["timeline"]]
    bad = region.stack.api(region.site_token).post(
        f"/api/v1/cases/{case['id']}/priority", json={"priority": "asap"}
    )
    assert bad.status_code == 400 and "priority" in bad.json()["detail"]
    # Another site's login does not even see the case.
    from tests.conftest import make_region

    other = make_region(region.stack, on_duty=())
    r = region.stack.api(other.site_token).post(
        f"/api/v1/cases/{case['id']}/priority", json={"priority": "urgent"}
    )
    assert r.status_code == 404


def test_offers_show_why_each_expert_was_chosen_to_coordinators_only(region: Region) -> None:
    case = region.submit()
    offer = _offers(region, case["id"], 1)[0]
    assert offer["expert"] == region.experts["alice"].code
    assert (offer["step"], offer["round"], offer["outcome"]) == ("primary", 1, "open")
    assert offer["why"] == {
        "rank": 1,
        "tier": "primary",
        "load": 0,
        "max_concurrent": 3,
        "reads_this_shift": 0,
        "minutes_since_last_offer": None,
        "subspecialty_match": None,
        "open_offers": 0,
        "reachable": True,
    }
    seen_by_site = region.stack.api(region.site_token).get(f"/api/v1/cases/{case['id']}").json()
    assert "offers" not in seen_by_site


def test_a_decline_moves_on_at_once_and_keeps_its_reason(region: Region) -> None:
    case = region.submit()
    _offers(region, case["id"], 1)
    alice = region.experts["alice"]
    r = region.stack.api(alice.token).post(
        f"/api/v1/cases/{case['id']}/decline", json={"reason": "reading a stroke CT"}
    )
    assert r.status_code == 200, r.text
    offers = _offers(region, case["id"], 2)
    assert (offers[0]["outcome"], offers[0]["decline_reason"], offers[0]["channel"]) == (
        "declined",
        "reading a stroke CT",
        "web",
    )
    assert offers[1]["expert"] == region.experts["bruno"].code
    too_long = region.stack.api(alice.token).post(
        f"/api/v1/cases/{case['id']}/decline", json={"reason": "x" * 201}
    )
    assert too_long.status_code == 400 and "reason" in too_long.json()["detail"]


def test_sla_shows_each_deadline_the_time_taken_and_whether_it_was_met(region: Region) -> None:
    case = region.submit(priority="urgent")
    alice = region.experts["alice"]
    assert case["sla"]["accept"]["met"] is None and case["sla"]["accept"]["breached"] is False
    region.stack.api(alice.token).post(f"/api/v1/cases/{case['id']}/accept")
    accepted = region.wait_status(case["id"], "accepted")
    accept = accepted["sla"]["accept"]
    assert accept["met"] is True and accept["breached"] is False
    assert accept["within_s"] == 1200
    assert 0 <= accept["taken_s"] < 120
    assert accepted["sla"]["report"]["met"] is None


def test_a_case_nobody_may_read_alerts_at_once_and_is_offered_when_a_shift_is_added(
    region: Region,
) -> None:
    from tests.conftest import make_region

    lonely = make_region(region.stack, on_duty=())
    case = lonely.submit()
    coordinator = region.stack.api(lonely.coordinator_token)
    alerted = wait_for(
        lambda: [
            e for e in lonely.case(case["id"])["timeline"] if e["kind"] == "coordinators_alerted"
        ],
        what="the coordinators alerted",
    )
    assert alerted[0]["detail"] == "nobody_eligible"
    now = datetime.now().astimezone()
    r = coordinator.post(
        "/api/v1/shifts",
        json={
            "expert": lonely.experts["alice"].code,
            "start": (now - timedelta(minutes=5)).isoformat(),
            "end": (now + timedelta(hours=8)).isoformat(),
            "tier": "primary",
        },
    )
    assert r.status_code == 201, r.text
    # At once, not at the next re-check five minutes later.
    lonely.offer_sms("alice", timeout=20)
    assert lonely.case(case["id"])["status"] == "offered"
