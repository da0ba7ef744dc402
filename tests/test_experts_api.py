"""Experts over HTTP (api.md): their fields and dated credentials read and changed, bad input
named field by field with nothing changed, vocabularies normalised on every input, and a
change of eligibility seen by routing at once."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from garde.models import Expert, utcnow
from tests.conftest import Region, case_request, make_region
from tests.phones import mobile

PARIS = ZoneInfo("Europe/Paris")


def _expert(region: Region, code: str) -> dict[str, Any]:
    r = region.stack.api(region.coordinator_token).get(f"/api/v1/experts/{code}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _on_call(region: Region, **params: str) -> requests.Response:
    return region.stack.api(region.coordinator_token).get(
        "/api/v1/oncall", params={"site": region.site, "modality": "CT", **params}
    )


def _on_call_codes(region: Region, **params: str) -> list[str]:
    r = _on_call(region, **params)
    assert r.status_code == 200, r.text
    return [e["expert"] for e in r.json()]


def test_patch_credentials_and_language_and_read_them_back(region: Region) -> None:
    api = region.stack.api(region.coordinator_token)
    alice = region.experts["alice"].code
    today = datetime.now(PARIS).date()
    assert alice in _on_call_codes(region)

    r = api.patch(
        f"/api/v1/experts/{alice}",
        json={
            "language": "EN",
            "timezone": "Indian/Reunion",
            "credentials": [
                {"site": region.site, "valid_until": (today - timedelta(days=1)).isoformat()}
            ],
        },
    )
    assert r.status_code == 200, r.text
    shown = _expert(region, alice)
    assert shown == r.json()
    assert (shown["language"], shown["timezone"], shown["active"]) == ("en", "Indian/Reunion", True)
    assert shown["sites"] == [region.site]
    assert shown["credentials"] == [
        {
            "site": region.site,
            "valid_from": None,
            "valid_until": (today - timedelta(days=1)).isoformat(),
        }
    ]
    assert alice not in _on_call_codes(region)  # expired yesterday in the site's zone

    r = api.patch(
        f"/api/v1/experts/{alice}",
        json={"credentials": [{"site": region.site, "valid_from": today.isoformat()}]},
    )
    assert r.status_code == 200, r.text
    assert alice in _on_call_codes(region)  # valid from today

    r = api.patch(f"/api/v1/experts/{alice}", json={"active": False})
    assert r.status_code == 200, r.text
    assert alice not in _on_call_codes(region)
    r = api.patch(f"/api/v1/experts/{alice}", json={"active": True, "sites": [region.site]})
    assert r.json()["credentials"] == [
        {"site": region.site, "valid_from": None, "valid_until": None}
    ]
    assert alice in _on_call_codes(region)


def test_bad_patch_names_each_field_and_changes_nothing(region: Region) -> None:
    api = region.stack.api(region.coordinator_token)
    bruno = region.experts["bruno"].code
    before = _expert(region, bruno)
    r = api.patch(
        f"/api/v1/experts/{bruno}",
        json={
            "name": "Dr Changed",
            "language": "de",
            "timezone": "Mars/Olympus",
            "modalities": ["CT", "XR"],
            "subspecialties": ["Neuro", "astrology"],
            "max_concurrent": 0,
            "phone": region.experts["alice"].phone,
            "credentials": [
                {"site": region.site, "valid_from": "2026-04-01", "valid_until": "2026-03-31"},
                {"site": "NOWHERE", "valid_from": "2026-02-30"},
                "not an object",
            ],
        },
    )
    assert r.status_code == 400, r.text
    errors = r.json()["detail"]
    assert set(errors) == {
        "language",
        "timezone",
        "modalities",
        "subspecialties",
        "max_concurrent",
        "phone",
        "credentials[0].valid_until",
        "credentials[1].site",
        "credentials[1].valid_from",
        "credentials[2]",
    }
    assert "fr or en" in errors["language"]
    assert "IANA" in errors["timezone"]
    assert "unknown modality XR" in errors["modalities"] and "CT, MR" in errors["modalities"]
    assert "unknown subspecialty astrology" in errors["subspecialties"]
    assert "on or after valid_from" in errors["credentials[0].valid_until"]
    assert "unknown site NOWHERE" in errors["credentials[1].site"]
    assert "YYYY-MM-DD" in errors["credentials[1].valid_from"]
    assert _expert(region, bruno) == before

    for payload, field in (
        ({"code": "DR-OTHER"}, "code"),
        ({"credentials": "everywhere"}, "credentials"),
        ({"sites": [region.site], "credentials": []}, "sites"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
        ({"active": "perhaps"}, "active"),
        ({"sms_enabled": "perhaps"}, "sms_enabled"),
    ):
        r = api.patch(f"/api/v1/experts/{bruno}", json=payload)
        assert r.status_code == 400, r.text
        assert set(r.json()["detail"]) == {field}, r.text
    assert _expert(region, bruno) == before


def test_sms_can_be_turned_off_and_a_new_phone_is_reachable_again(region: Region) -> None:
    api = region.stack.api(region.coordinator_token)
    chloe = region.experts["chloe"]
    r = api.patch(f"/api/v1/experts/{chloe.code}", json={"sms_enabled": False})
    assert r.status_code == 200, r.text
    assert (r.json()["sms_enabled"], r.json()["sms_unreachable_since"]) == (False, None)
    with region.stack.sessions.begin() as s:
        expert = s.get_one(Expert, chloe.id)
        expert.sms_unreachable_since, expert.sms_unreachable_reason = utcnow(), "twilio 21211"
    r = api.patch(f"/api/v1/experts/{chloe.code}", json={"language": "en"})
    assert r.json()["sms_unreachable_since"] is not None  # the same phone: still refused
    r = api.patch(
        f"/api/v1/experts/{chloe.code}",
        json={"phone": mobile()},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["sms_unreachable_since"], r.json()["sms_enabled"]) == (None, False)


def test_only_staff_read_and_change_experts(region: Region) -> None:
    alice = region.experts["alice"]
    as_alice = region.stack.api(alice.token)
    assert as_alice.get(f"/api/v1/experts/{alice.code}").status_code == 403
    assert (
        as_alice.patch(f"/api/v1/experts/{alice.code}", json={"language": "en"}).status_code == 403
    )
    coordinator = region.stack.api(region.coordinator_token)
    assert coordinator.get("/api/v1/experts/NOBODY").status_code == 404
    assert coordinator.patch("/api/v1/experts/NOBODY", json={}).status_code == 404


def test_new_expert_with_dated_credentials_and_normalised_words(region: Region) -> None:
    code = "DR-NEW-" + secrets.token_hex(3)
    r = region.stack.api(region.admin_token).post(
        "/api/v1/experts",
        json={
            "code": code,
            "name": "Dr New",
            "phone": mobile(),  # a valid mobile
            "modalities": ["ct", "IRM", "CT"],
            "subspecialties": ["Pédiatrie", "paediatric", "Neuroradiologie"],
            "language": "en",
            "timezone": "America/Martinique",
            "credentials": [{"site": region.site, "valid_from": "2026-01-01"}],
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["modalities"] == ["CT", "MR"]
    assert created["subspecialties"] == ["pediatric", "neuro"]
    assert (created["language"], created["timezone"]) == ("en", "America/Martinique")
    assert created["credentials"] == [
        {"site": region.site, "valid_from": "2026-01-01", "valid_until": None}
    ]
    assert _expert(region, code) == created


def test_oncall_and_intake_normalise_modality_and_subspecialty(region: Region) -> None:
    alice, bruno = region.experts["alice"].code, region.experts["bruno"].code
    assert _on_call_codes(region, modality="irm", subspecialty="Neuroradiologie") == [
        alice,
        bruno,
    ]
    assert _on_call_codes(region, subspecialty="Pédiatrie") == []
    r = _on_call(region, modality="XR", subspecialty="astrology")
    assert r.status_code == 400
    assert set(r.json()["detail"]) == {"modality", "subspecialty"}
    assert "must be one of neuro, body" in r.json()["detail"]["subspecialty"]

    case = region.submit(modality="scanner", subspecialty="Neuroradiologie")
    assert (case["modality"], case["subspecialty"]) == ("CT", "neuro")
    r = region.stack.api(region.site_token).post(
        "/api/v1/cases",
        json=case_request(subspecialty="astrology"),
    )
    assert r.status_code == 400
    assert "unknown subspecialty astrology" in r.json()["detail"]["subspecialty"]


def test_a_patch_that_makes_an_expert_eligible_offers_the_waiting_case(region: Region) -> None:
    lonely = make_region(region.stack, on_duty=("alice",))
    case = lonely.submit(modality="US")  # nobody of this region reads ultrasound
    alice = lonely.experts["alice"].code
    r = region.stack.api(lonely.coordinator_token).patch(
        f"/api/v1/experts/{alice}", json={"modalities": ["CT", "MR", "US"]}
    )
    assert r.status_code == 200, r.text
    # At once, not at the next re-check five minutes later.
    lonely.offer_sms("alice", timeout=20)
    assert lonely.case(case["id"])["status"] == "offered"


def test_a_site_names_the_ae_titles_whose_images_open_a_case(region: Region) -> None:
    api = region.stack.api(region.admin_token)
    code = "SITE-OPEN-" + secrets.token_hex(3).upper()
    titles = [f"CT{code[-6:]}", f"MR{code[-6:]}"]
    r = api.post(
        "/api/v1/sites",
        json={"code": code, "name": "CH open", "ae_titles": titles, "opens_cases": {"XX": "stat"}},
    )
    assert r.status_code == 400
    assert r.json()["detail"] == {"opens_cases": "XX: not among the site's ae_titles"}

    r = api.post(
        "/api/v1/sites",
        json={
            "code": code,
            "name": "CH open",
            "ae_titles": titles,
            "opens_cases": {titles[0]: "STAT"},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["opens_cases"] == {titles[0]: "stat"}

    # A title that stays keeps its setting; one dropped stops opening cases.
    r = api.patch(f"/api/v1/sites/{code}", json={"ae_titles": [titles[1], titles[0]]})
    assert r.json()["opens_cases"] == {titles[0]: "stat"}
    r = api.patch(f"/api/v1/sites/{code}", json={"opens_cases": {titles[1]: "urgent"}})
    assert r.json()["opens_cases"] == {titles[1]: "urgent"}
    r = api.patch(f"/api/v1/sites/{code}", json={"ae_titles": [titles[0]]})
    assert r.json()["opens_cases"] == {}
    r = api.patch(f"/api/v1/sites/{code}", json={"opens_cases": "CT1 please"})
    assert r.json()["detail"] == {
        "opens_cases": "must pair AE titles with a priority, e.g. CT1=urgent"
    }
