"""Rotations, shift edits, overrides, unavailability and swaps over HTTP, as api.md names
them: what a coordinator and the experts do to a roster, and bad input refused by field with
nothing stored lost."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from garde.models import Override, Rotation, Shift
from tests.conftest import Region


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _refused(response: requests.Response, field: str, reason: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert reason in body["detail"][field], body


def _oncall(region: Region, at: datetime) -> list[tuple[str, str]]:
    r = region.stack.api(region.coordinator_token).get(
        "/api/v1/oncall", params={"site": region.site, "modality": "CT", "at": at.isoformat()}
    )
    names = {e.code: name for name, e in region.experts.items()}
    return [(names[e["expert"]], e["tier"]) for e in _ok(r)]


def _shifts(region: Region, expert: str, start: str, end: str) -> list[dict[str, Any]]:
    r = region.stack.api(region.coordinator_token).get(
        "/api/v1/shifts",
        params={"expert": region.experts[expert].code, "from": start, "to": end},
    )
    found: list[dict[str, Any]] = _ok(r)
    return found


def _counts(region: Region) -> dict[str, int]:
    with region.stack.sessions() as s:
        return {
            model.__tablename__: int(s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Rotation, Shift, Override)
        }


def nights(region: Region, **changes: Any) -> dict[str, Any]:
    data = {
        "name": "nights " + secrets.token_hex(4),
        "experts": [region.experts["alice"].code, region.experts["bruno"].code],
        "tier": "primary",
        "timezone": "Europe/Paris",
        "days": ["MO", "TU", "WE", "TH", "FR", "SA", "SU"],
        "start_time": "20:00",
        "end_time": "08:00",
        "handoff_every_days": 7,
        "from": "2027-03-25",
        "until": "2027-04-01",
    }
    data.update(changes)
    return data


def test_a_rotation_is_generated_edited_regenerated_and_deleted(region: Region) -> None:
    api = region.stack.api(region.coordinator_token)
    made = _ok(api.post("/api/v1/rotations", json=nights(region)), 201)
    assert made["generated"] == {"created": 8, "updated": 0, "deleted": 0, "kept": 0}
    assert made["experts"] == [region.experts["alice"].code, region.experts["bruno"].code]
    window = ("2027-03-25T00:00:00Z", "2027-04-03T00:00:00Z")
    shifts = {s["slot"]: s for s in _shifts(region, "alice", *window)}
    assert sorted(shifts) == [f"2027-03-{d}" for d in range(25, 32)]
    # The night the clocks go forward: 20:00 to 08:00 in Paris, 11 hours.
    change = shifts["2027-03-27"]
    assert (change["start"], change["end"]) == ("2027-03-27T19:00:00Z", "2027-03-28T06:00:00Z")
    assert change["source"] == "rotation" and change["rotation"] == made["id"]
    assert not change["edited"]
    assert [s["slot"] for s in _shifts(region, "bruno", *window)] == ["2027-04-01"]

    edited = _ok(api.patch(f"/api/v1/shifts/{change['id']}", json={"tier": "backup"}))
    assert edited["edited"] and edited["tier"] == "backup"
    _ok(api.delete(f"/api/v1/shifts/{shifts['2027-03-30']['id']}"), 204)
    changed = _ok(api.patch(f"/api/v1/rotations/{made['id']}", json={"start_time": "21:00"}))
    assert changed["skipped"] == ["2027-03-30"]
    assert changed["generated"] == {"created": 0, "updated": 6, "deleted": 0, "kept": 1}
    after = {s["slot"]: s for s in _shifts(region, "alice", *window)}
    assert "2027-03-30" not in after and after["2027-03-27"] == edited
    assert after["2027-03-26"]["start"] == "2027-03-26T20:00:00Z"
    listed = _ok(api.get("/api/v1/rotations"))
    assert [r["start_time"] for r in listed if r["id"] == made["id"]] == ["21:00"]

    gone = _ok(api.delete(f"/api/v1/rotations/{made['id']}"))
    assert gone == {"id": made["id"], "deleted_shifts": 6}
    (left,) = _shifts(region, "alice", *window)
    assert left["id"] == change["id"] and left["rotation"] is None
    assert api.get(f"/api/v1/rotations/{made['id']}").status_code == 404


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"experts": ["DR-NOBODY"]}, "experts", "no expert has the code DR-NOBODY"),
        ({"start_time": "24:00"}, "start_time", "HH:MM"),
        ({"days": ["MO", "FUNDAY"]}, "days", "FUNDAY"),
        ({"until": "2027-03-01"}, "until", "on or after from"),
        ({"until": "2029-01-01"}, "until", "at most 400 days"),
        ({"timezone": "Paris"}, "timezone", "IANA"),
    ],
)
def test_bad_rotation_is_refused_by_field_and_changes_nothing(
    region: Region, changes: dict[str, Any], field: str, reason: str
) -> None:
    api = region.stack.api(region.coordinator_token)
    made = _ok(api.post("/api/v1/rotations", json=nights(region)), 201)
    before = _counts(region)
    _refused(api.post("/api/v1/rotations", json=nights(region, **changes)), field, reason)
    _refused(api.patch(f"/api/v1/rotations/{made['id']}", json=changes), field, reason)
    assert _counts(region) == before
    assert _ok(api.get(f"/api/v1/rotations/{made['id']}")) == {
        k: v for k, v in made.items() if k != "generated"
    }


def test_bad_shift_changes_are_refused_and_change_nothing(region: Region) -> None:
    api = region.stack.api(region.coordinator_token)
    alice = region.experts["alice"].code
    shift = _ok(
        api.post(
            "/api/v1/shifts",
            json={
                "expert": alice,
                "start": "2027-02-01T08:00:00+01:00",
                "end": "2027-02-01T20:00:00+01:00",
            },
        ),
        201,
    )
    assert shift["source"] == "manual" and shift["tier"] == "primary"
    url = f"/api/v1/shifts/{shift['id']}"
    _refused(api.patch(url, json={"end": "2027-02-01T07:00:00+01:00"}), "end", "after start")
    _refused(api.patch(url, json={"expert": "DR-NOBODY"}), "expert", "no expert")
    _refused(api.patch(url, json={"tier": "gold"}), "tier", "primary, backup")
    _refused(
        api.post(
            "/api/v1/shifts",
            json={
                "expert": alice,
                "start": "2027-02-01T19:00:00+01:00",
                "end": "2027-02-02T07:00:00+01:00",
            },
        ),
        "start",
        "already has a shift from 2027-02-01T08:00+01:00",
    )
    assert _shifts(region, "alice", "2027-02-01T00:00:00Z", "2027-02-03T00:00:00Z") == [shift]
    assert api.patch("/api/v1/shifts/999999999", json={"tier": "backup"}).status_code == 404
    expert = region.stack.api(region.experts["alice"].token)
    assert expert.delete(url).status_code == 403


def test_an_override_puts_one_expert_in_anothers_place(region: Region) -> None:
    now = datetime.now(UTC)
    start, end = now - timedelta(minutes=1), now + timedelta(hours=2)
    data = {
        "expert": region.experts["bruno"].code,
        "replaces": region.experts["alice"].code,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    chloe = region.stack.api(region.experts["chloe"].token)
    assert chloe.post("/api/v1/overrides", json=data).status_code == 403
    alice = region.stack.api(region.experts["alice"].token)
    _refused(alice.post("/api/v1/overrides", json={**data, "end": data["start"]}), "end", "after")
    made = _ok(alice.post("/api/v1/overrides", json=data), 201)
    assert made["created_by"] == region.experts["alice"].username
    (piece,) = made["shifts"]
    assert (piece["expert"], piece["tier"], piece["source"]) == (
        data["expert"],
        "primary",
        "override",
    )
    assert (_at(piece["start"]), _at(piece["end"])) == (start, end)
    assert _oncall(region, now + timedelta(hours=1)) == [("bruno", "primary")]
    assert _oncall(region, now + timedelta(hours=3)) == [("alice", "primary"), ("bruno", "backup")]
    # An override's shift follows its override.
    coordinator = region.stack.api(region.coordinator_token)
    assert coordinator.delete(f"/api/v1/shifts/{piece['id']}").status_code == 409
    listed = _ok(coordinator.get("/api/v1/overrides", params={"from": now.isoformat()}))
    assert made["id"] in [o["id"] for o in listed]
    _ok(alice.delete(f"/api/v1/overrides/{made['id']}"), 204)
    assert _oncall(region, now + timedelta(hours=1)) == [("alice", "primary"), ("bruno", "backup")]


def test_unavailability_takes_an_expert_off_duty(region: Region) -> None:
    now = datetime.now(UTC)
    data = {
        "expert": region.experts["bruno"].code,
        "start": now.isoformat(),
        "end": (now + timedelta(hours=3)).isoformat(),
        "reason": "sick",
    }
    alice = region.stack.api(region.experts["alice"].token)
    assert alice.post("/api/v1/unavailability", json=data).status_code == 403
    bruno = region.stack.api(region.experts["bruno"].token)
    _refused(bruno.post("/api/v1/unavailability", json={**data, "start": "soon"}), "start", "ISO")
    made = _ok(bruno.post("/api/v1/unavailability", json=data), 201)
    assert len(made["uncovers"]) == 1 and made["reason"] == "sick"
    assert _oncall(region, now + timedelta(hours=1)) == [("alice", "primary")]
    assert [u["id"] for u in _ok(bruno.get("/api/v1/unavailability"))] == [made["id"]]
    assert _ok(alice.get("/api/v1/unavailability")) == []
    _ok(bruno.delete(f"/api/v1/unavailability/{made['id']}"), 204)
    assert _oncall(region, now + timedelta(hours=1)) == [("alice", "primary"), ("bruno", "backup")]


def test_a_swap_is_asked_accepted_and_applied(region: Region) -> None:
    coordinator = region.stack.api(region.coordinator_token)
    night = {"start": "2027-02-10T20:00:00+01:00", "end": "2027-02-11T08:00:00+01:00"}
    shift = _ok(
        coordinator.post("/api/v1/shifts", json={"expert": region.experts["alice"].code, **night}),
        201,
    )
    alice = region.stack.api(region.experts["alice"].token)
    bruno = region.stack.api(region.experts["bruno"].token)
    chloe = region.stack.api(region.experts["chloe"].token)
    _refused(alice.post("/api/v1/swaps", json={"shift": "tonight"}), "shift", "integer")
    asked = _ok(
        alice.post(
            "/api/v1/swaps",
            json={"shift": shift["id"], "other": region.experts["bruno"].code, "note": "exam"},
        ),
        201,
    )
    assert asked["status"] == "pending" and asked["shift"] == shift
    assert [s["id"] for s in _ok(bruno.get("/api/v1/swaps"))] == [asked["id"]]
    assert _ok(chloe.get("/api/v1/swaps")) == []
    assert chloe.post(f"/api/v1/swaps/{asked['id']}/accept").status_code == 404
    assert alice.post(f"/api/v1/swaps/{asked['id']}/accept").status_code == 403
    applied = _ok(bruno.post(f"/api/v1/swaps/{asked['id']}/accept"))
    assert applied["status"] == "applied"
    assert applied["decided_by"] == region.experts["bruno"].username
    overrides = _ok(
        coordinator.get("/api/v1/overrides", params={"from": night["start"], "to": night["end"]})
    )
    mine = [o for o in overrides if o["created_by"] == f"swap:{asked['id']}"]
    assert [(o["expert"], o["replaces"]) for o in mine] == [
        (region.experts["bruno"].code, region.experts["alice"].code)
    ]
    assert _oncall(region, _at("2027-02-11T00:00:00+01:00")) == [("bruno", "primary")]
    assert alice.post(f"/api/v1/swaps/{asked['id']}/cancel").status_code == 409
