"""Exactly one expert holds a case: concurrent acceptance, eligibility, worklist taking."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.conftest import Region


def test_two_experts_accepting_at_once_get_one_200_and_one_409(region: Region) -> None:
    case = region.submit()
    region.offer_sms("alice")
    experts = [region.experts["alice"], region.experts["bruno"]]

    def accept(token: str) -> int:
        r = region.stack.api(token).post(f"/api/v1/cases/{case['id']}/accept")
        return int(r.status_code)

    with ThreadPoolExecutor(2) as pool:
        codes = sorted(pool.map(accept, [e.token for e in experts]))
    assert codes == [200, 409]
    holder = region.wait_status(case["id"], "accepted")["assigned_expert"]
    assert holder in (experts[0].code, experts[1].code)


def test_second_accept_gets_409_with_error_json(region: Region) -> None:
    case = region.submit()
    alice, bruno = region.experts["alice"], region.experts["bruno"]
    assert (
        region.stack.api(alice.token).post(f"/api/v1/cases/{case['id']}/accept").status_code == 200
    )
    r = region.stack.api(bruno.token).post(f"/api/v1/cases/{case['id']}/accept")
    assert r.status_code == 409
    assert r.json()["error"] == "another expert holds the case"
    # Accepting again by the holder is harmless.
    assert (
        region.stack.api(alice.token).post(f"/api/v1/cases/{case['id']}/accept").status_code == 200
    )


def test_expert_without_credentials_for_the_site_gets_403(region: Region) -> None:
    case = region.submit()
    chloe = region.experts["chloe"]  # on duty, reads CT, but not credentialed for this site
    r = region.stack.api(chloe.token).post(f"/api/v1/cases/{case['id']}/accept")
    assert r.status_code == 403
    assert "not eligible" in r.json()["error"]
    assert region.case(case["id"])["assigned_expert"] is None


def test_expert_reading_another_modality_gets_403(region: Region) -> None:
    case = region.submit(modality="US")
    r = region.stack.api(region.experts["alice"].token).post(f"/api/v1/cases/{case['id']}/accept")
    assert r.status_code == 403


def test_eligible_expert_takes_an_unassigned_case_from_the_worklist(region: Region) -> None:
    case = region.submit()
    bruno = region.experts["bruno"]  # backup tier: not offered first, but eligible
    worklist = region.stack.api(bruno.token).get("/api/v1/worklist").json()
    assert case["id"] in [c["id"] for c in worklist["open"]]
    r = region.stack.api(bruno.token).post(f"/api/v1/cases/{case['id']}/accept")
    assert r.status_code == 200, r.text
    assert r.json()["assigned_expert"] == bruno.code


def test_declined_offer_goes_to_the_next_expert(region: Region) -> None:
    case = region.submit()
    region.offer_sms("alice")
    alice = region.experts["alice"]
    r = region.stack.api(alice.token).post(f"/api/v1/cases/{case['id']}/decline")
    assert r.status_code == 200
    code = region.offer_sms("bruno")
    region.stack.sms_reply(region.experts["bruno"].phone, f"OK {code}")
    assert (
        region.wait_status(case["id"], "accepted")["assigned_expert"]
        == region.experts["bruno"].code
    )


def test_release_sends_the_case_back_to_routing(region: Region) -> None:
    case = region.submit()
    alice, bruno = region.experts["alice"], region.experts["bruno"]
    assert (
        region.stack.api(alice.token).post(f"/api/v1/cases/{case['id']}/accept").status_code == 200
    )
    r = region.stack.api(bruno.token).post(f"/api/v1/cases/{case['id']}/release")
    assert r.status_code in (403, 404)
    r = region.stack.api(alice.token).post(f"/api/v1/cases/{case['id']}/release")
    assert r.status_code == 200, r.text
    code = region.offer_sms("bruno")
    region.stack.sms_reply(bruno.phone, f"YES {code}")
    assert region.wait_status(case["id"], "accepted")["assigned_expert"] == bruno.code


def test_only_the_holder_files_a_report(region: Region) -> None:
    case = region.submit()
    alice, bruno = region.experts["alice"], region.experts["bruno"]
    assert (
        region.stack.api(alice.token).post(f"/api/v1/cases/{case['id']}/accept").status_code == 200
    )
    r = region.stack.api(bruno.token).post(
        f"/api/v1/cases/{case['id']}/report",
        json={"kind": "final", "findings": "x", "impression": "y"},
    )
    assert r.status_code in (403, 404)
    assert region.case(case["id"])["status"] == "accepted"


def test_site_sees_only_its_own_cases(region: Region) -> None:
    case = region.submit()
    from tests.conftest import make_region

    other = make_region(region.stack)
    r = region.stack.api(other.site_token).get(f"/api/v1/cases/{case['id']}")
    assert r.status_code == 404
    listed = region.stack.api(other.site_token).get("/api/v1/cases").json()
    assert case["id"] not in [c["id"] for c in listed]
