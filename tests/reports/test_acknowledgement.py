"""The site acknowledges a report version on the real stack, each way it may: an SMS reply from
the case's callback phone (signed like Twilio), the API, the site's case page. The report then
says who, when and how. (The escalation's timing is tests/workflows/test_acknowledgement.py's,
on the time-skipping server: nothing here waits for a deadline.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from garde.texts import render
from tests.conftest import Region, wait_for
from tests.phones import mobile
from tests.web.test_pages import Browser


def _reported(
    region: Region, report: dict[str, Any], callback_phone: str, wait: bool = True
) -> int:
    """A case read by Alice, `report` filed as its final (after a preliminary when it marks
    a discrepancy); the case's number, once its acknowledgement is asked for (`wait`) or at
    once."""
    alice = region.experts["alice"]
    case_id: int = region.submit(callback_phone=callback_phone)["id"]
    api = region.stack.api(alice.token)
    assert api.post(f"/api/v1/cases/{case_id}/accept").status_code == 200
    text = {"findings": "Free air.", "impression": "Perforation."}
    if "discrepancy" in report:
        r = api.post(f"/api/v1/cases/{case_id}/report", json={"kind": "preliminary", **text})
        assert r.status_code == 201, r.text
    r = api.post(f"/api/v1/cases/{case_id}/report", json={"kind": "final", **text, **report})
    assert r.status_code == 201, r.text
    if wait:
        wait_for(lambda: _document(region, case_id)["acknowledgement_required"], 30, "asked")
    return case_id


def _document(region: Region, case_id: int) -> dict[str, Any]:
    r = region.stack.api(region.site_token).get(f"/api/v1/cases/{case_id}/report?format=json")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _acknowledged(region: Region, case_id: int) -> tuple[str, str]:
    document = wait_for(
        lambda: (d := _document(region, case_id))["acknowledged_at"] and d,
        30,
        f"case {case_id} acknowledged",
    )
    assert datetime.fromisoformat(document["acknowledged_at"]) >= datetime.fromisoformat(
        document["versions"][-1]["signed_at"]
    )
    return document["acknowledged_by"], document["acknowledged_via"]


def test_the_site_acknowledges_by_sms_reply_api_and_web_and_the_report_says_so(
    region: Region,
) -> None:
    stack = region.stack
    assert stack.twilio is not None

    # By SMS, from the case's callback phone: a stranger's "OK N" changes nothing.
    phone = mobile()
    by_sms = _reported(region, {"critical_category": 1}, phone)
    [asked] = wait_for(
        lambda: [m for m in stack.twilio.to(phone) if f"OK {by_sms}" in m.body],  # type: ignore[union-attr]
        30,
        "the site texted",
    )
    assert "catégorie 1" in asked.body and "Perforation" not in asked.body
    stranger = stack.sms_reply(mobile(), f"OK {by_sms}")
    assert render("reply_unknown_number", None) in stranger.text, stranger.text
    assert _document(region, by_sms)["acknowledged_at"] is None
    r = stack.sms_reply(phone, f"ok {by_sms}")
    assert r.status_code == 200 and f"réception bien notée, cas {by_sms}" in r.text, r.text
    assert _acknowledged(region, by_sms) == (phone, "sms")
    again = stack.sms_reply(phone, f"LU {by_sms}")
    assert f"aucun accusé de réception attendu pour le cas {by_sms}" in again.text, again.text

    # By the API, as soon as the report is filed (its workflow may not have written its
    # request yet); again: 409, saying why.
    by_api = _reported(region, {"critical_category": 2}, mobile(), wait=False)
    api = stack.api(region.site_token)
    r = api.post(f"/api/v1/cases/{by_api}/acknowledge")
    assert r.status_code == 200, r.text
    assert _acknowledged(region, by_api) == (region.site_username, "api")
    r = api.post(f"/api/v1/cases/{by_api}/acknowledge")
    assert r.status_code == 409 and "acknowledged already" in r.text, r.text

    # A major discrepancy, from the site's case page.
    by_web = _reported(region, {"discrepancy": "major"}, mobile())
    assert _document(region, by_web)["acknowledgement_reason"] == "discrepancy"
    site = Browser(stack).login(region.site_username)
    path = f"/site/cases/{by_web}"
    r = site.submit(path, path + "/acknowledge", {})
    assert r.status_code == 302, r.text
    assert _acknowledged(region, by_web) == (region.site_username, "web")
