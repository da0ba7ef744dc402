"""One visibility rule for every view of a case (issue 8, defect 4).

An expert who holds or held a case reads its clinical question, its study and its reports;
an expert it was merely offered to (or who could take it) sees the routing summary only, as
the offer SMS says it: site, modality, subspecialty, priority, times and their own offers.
As found: an expert who declined still read the final report through the case JSON and the
expert case page (only `…/report` was closed to them).
"""

from __future__ import annotations

import base64
import html
import secrets
from typing import Any

import requests

from tests.conftest import Region, case_request
from tests.web.test_pages import Browser

FORMATS = ("json", "html", "pdf", "fhir", "hl7")
# What only the holders may read: the summary keys are all an offered expert gets.
SUMMARY_KEYS = {
    "id",
    "sight",
    "status",
    "priority",
    "site",
    "site_name",
    "modality",
    "subspecialty",
    "requested_at",
    "sla",
    "study",
    "offers",
}


def private_case(region: Region) -> tuple[dict[str, Any], str, str]:
    """A case whose question and report carry words found nowhere else."""
    question = f"Question {secrets.token_hex(6)}"
    findings = f"Findings {secrets.token_hex(6)}"
    return region.submit(**case_request(clinical_question=question)), question, findings


def file_final(region: Region, expert: str, case_id: int, findings: str) -> None:
    r = region.stack.api(region.experts[expert].token).post(
        f"/api/v1/cases/{case_id}/report",
        json={"kind": "final", "findings": findings, "impression": "Impression here."},
    )
    assert r.status_code == 201, r.text
    region.wait_status(case_id, "final")


def in_report(response: requests.Response, fmt: str) -> str:
    """The text of a report in any format, to look for words in."""
    if fmt == "fhir":  # a Bundle, the DiagnosticReport first
        form = response.json()["entry"][0]["resource"]["presentedForm"][0]["data"]
        return base64.b64decode(form).decode() + response.text
    if fmt == "pdf":
        assert response.content.startswith(b"%PDF")
        return response.headers["Content-Type"]
    return html.unescape(response.text)


def assert_reads_all(
    region: Region, expert: str, case_id: int, question: str, findings: str
) -> None:
    api = region.stack.api(region.experts[expert].token)
    seen = api.get(f"/api/v1/cases/{case_id}").json()
    assert seen["clinical_question"] == question
    assert seen["report"]["findings"] == findings
    listed = {c["id"]: c for c in api.get("/api/v1/cases").json()}
    assert listed[case_id]["clinical_question"] == question
    for fmt in FORMATS:
        r = api.get(f"/api/v1/cases/{case_id}/report", params={"format": fmt})
        assert r.status_code == 200, (fmt, r.text)
        if fmt != "pdf":
            assert findings in in_report(r, fmt), fmt
    page = Browser(region.stack).login(region.experts[expert].username)
    text = html.unescape(page.get(f"/expert/cases/{case_id}").text)
    assert question in text and findings in text
    assert seen["sight"] == "record"


def assert_reads_the_summary_only(
    region: Region, expert: str, case_id: int, question: str, findings: str | None
) -> dict[str, Any]:
    api = region.stack.api(region.experts[expert].token)
    r = api.get(f"/api/v1/cases/{case_id}")
    assert r.status_code == 200, r.text
    seen: dict[str, Any] = r.json()
    listed = {c["id"]: c for c in api.get("/api/v1/cases").json()}
    for leaked in (r.text, str(listed[case_id])):
        assert question not in leaked
        assert findings is None or findings not in leaked
    assert set(seen) == SUMMARY_KEYS and seen["sight"] == "summary"
    assert set(listed[case_id]) == SUMMARY_KEYS
    for fmt in FORMATS:
        r = api.get(f"/api/v1/cases/{case_id}/report", params={"format": fmt})
        assert r.status_code == 403, (fmt, r.status_code)
        assert question not in r.text and (findings is None or findings not in r.text)
    page = Browser(region.stack).login(region.experts[expert].username)
    shown = page.get(f"/expert/cases/{case_id}")
    assert shown.status_code == 200
    text = html.unescape(shown.text)
    assert question not in text and (findings is None or findings not in text)
    assert "Accession" not in text and "Dr Urgences" not in text
    return seen


def test_an_expert_who_declined_reads_neither_the_question_nor_the_final_report(
    region: Region,
) -> None:
    case, question, findings = private_case(region)
    alice, bruno = region.experts["alice"], region.experts["bruno"]
    code = region.offer_sms("alice")
    region.wait_status(case["id"], "offered")

    # Offered: what the SMS says, with her offer, on the API, the worklist and the page.
    offered = assert_reads_the_summary_only(region, "alice", case["id"], question, None)
    assert [(o["code"], o["outcome"]) for o in offered["offers"]] == [(code, "open")]
    worklist = region.stack.api(alice.token).get("/api/v1/worklist").json()
    assert [set(o["case"]) for o in worklist["offered"]] == [SUMMARY_KEYS]
    page = Browser(region.stack).login(alice.username).get(f"/expert/cases/{case['id']}").text
    assert code in page and "Decline" in page and "Accept" in page

    r = region.stack.api(alice.token).post(f"/api/v1/cases/{case['id']}/decline")
    assert r.status_code == 200, r.text
    assert question not in r.text
    region.stack.sms_reply(bruno.phone, f"YES {region.offer_sms('bruno')}")
    region.wait_status(case["id"], "accepted")
    file_final(region, "bruno", case["id"], findings)

    declined = assert_reads_the_summary_only(region, "alice", case["id"], question, findings)
    assert [o["outcome"] for o in declined["offers"]] == ["declined"]
    assert_reads_all(region, "bruno", case["id"], question, findings)


def test_an_expert_whose_case_was_reassigned_away_still_reads_what_they_held(
    region: Region,
) -> None:
    """They read the question and wrote maybe a preliminary: the case stays theirs to read,
    final report included, as the design says (hold or held)."""
    case, question, findings = private_case(region)
    alice, bruno = region.experts["alice"], region.experts["bruno"]
    api = region.stack.api(alice.token)
    assert api.post(f"/api/v1/cases/{case['id']}/accept").status_code == 200
    r = region.stack.api(region.coordinator_token).post(
        f"/api/v1/cases/{case['id']}/reassign", json={"expert": bruno.code}
    )
    assert r.status_code == 200, r.text
    assert r.json()["assigned_expert"] == bruno.code
    file_final(region, "bruno", case["id"], findings)
    assert_reads_all(region, "alice", case["id"], question, findings)
    assert_reads_all(region, "bruno", case["id"], question, findings)


def test_an_expert_free_to_take_a_case_sees_its_summary_and_a_stranger_nothing(
    region: Region,
) -> None:
    case, question, _ = private_case(region)
    bruno, chloe = region.experts["bruno"], region.experts["chloe"]
    # Bruno (backup) is eligible before any offer reaches him: the worklist's "open" list.
    worklist = region.stack.api(bruno.token).get("/api/v1/worklist").json()
    assert [set(c) for c in worklist["open"] if c["id"] == case["id"]] == [SUMMARY_KEYS]
    seen = assert_reads_the_summary_only(region, "bruno", case["id"], question, None)
    assert seen["offers"] == []
    text = Browser(region.stack).login(bruno.username).get("/expert/").text
    assert f"/expert/cases/{case['id']}" in text and question not in html.unescape(text)
    # Chloe is credentialed elsewhere: the case does not exist for her.
    api = region.stack.api(chloe.token)
    assert api.get(f"/api/v1/cases/{case['id']}").status_code == 404
    assert api.get(f"/api/v1/cases/{case['id']}/report").status_code == 404
    page = Browser(region.stack).login(chloe.username).get(f"/expert/cases/{case['id']}")
    assert page.status_code == 404
