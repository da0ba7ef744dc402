"""Report versions: numbered, signed in a chain, never overwritten; the database refuses to
change a stored one; a changed byte fails the check."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DatabaseError

from garde.db import SessionFactory
from garde.models import Report
from reports.signing import Content, verify, verify_chain
from tests.conftest import Region

AT = datetime(2026, 11, 29, 3, 5, 7, 123456, tzinfo=UTC)


def content(**changes: object) -> Content:
    first = Content(
        case_id=7,
        version=1,
        kind="final",
        author="DR-A",
        signed_at=AT,
        technique="",
        findings="Hématome sous-dural droit de 8 mm.",
        impression="HSD aigu.",
        recommendations="",
        critical_category=1,
        discrepancy=None,
        template="ct_head_trauma",
        previous_sha256=None,
    )
    return dataclasses.replace(first, **changes)  # type: ignore[arg-type]


def stored(c: Content) -> Report:
    """A version as the record keeps it."""
    return Report(
        case_id=c.case_id,
        version=c.version,
        kind=c.kind,
        template=c.template,
        technique=c.technique,
        findings=c.findings,
        impression=c.impression,
        recommendations=c.recommendations,
        critical_category=c.critical_category,
        discrepancy=c.discrepancy,
        created_at=c.signed_at,
        previous_sha256=c.previous_sha256,
        sha256=c.sha256(),
    )


def test_a_changed_byte_anywhere_fails_the_check() -> None:
    first = stored(content())
    assert verify(first, "DR-A", None)
    assert not verify(first, "DR-B", None)  # another author
    for field, value in (
        ("findings", "Hématome sous-dural droit de 9 mm."),
        ("impression", "HSD aigu"),
        ("critical_category", 2),
        ("created_at", AT.replace(microsecond=123457)),
        ("kind", "preliminary"),
    ):
        changed = stored(content())
        setattr(changed, field, value)
        assert not verify(changed, "DR-A", None), field


def test_versions_form_a_chain_that_a_removed_version_breaks() -> None:
    one = content(kind="preliminary", critical_category=None)
    two = content(version=2, previous_sha256=one.sha256(), discrepancy="minor")
    three = content(version=3, kind="addendum", previous_sha256=two.sha256(), findings="+")
    chain = [(stored(c), "DR-A") for c in (one, two, three)]
    assert verify_chain(chain) == [True, True, True]
    assert verify_chain([chain[0], chain[2]]) == [True, False]
    # The digest is of the canonical content: the same fields give the same digest.
    assert content().sha256() == content().sha256() != content(findings="x").sha256()


def test_the_database_refuses_to_change_or_delete_a_stored_version(
    region: Region, sessions_of_stack: SessionFactory
) -> None:
    case, _ = final_case(region)
    with sessions_of_stack() as s:
        report_id = s.scalars(
            select(Report.id).where(Report.case_id == case, Report.kind == "final")
        ).one()
    for statement in (
        update(Report).where(Report.id == report_id).values(findings="Nothing."),
        delete(Report).where(Report.id == report_id),
    ):
        with pytest.raises(DatabaseError, match="immutable"), sessions_of_stack.begin() as s:
            s.execute(statement)
    with sessions_of_stack() as s:
        assert s.get_one(Report, report_id).findings == "Small right subdural haematoma."


@pytest.fixture
def sessions_of_stack(region: Region) -> SessionFactory:
    return region.stack.sessions


def final_case(region: Region) -> tuple[int, dict[str, object]]:
    """A case alice holds, with a preliminary, a final (marked a minor discrepancy) and an
    addendum; its report as JSON."""
    alice = region.experts["alice"]
    case = region.submit()["id"]
    api = region.stack.api(alice.token)
    assert api.post(f"/api/v1/cases/{case}/accept").status_code == 200
    for report in (
        {"kind": "preliminary", "findings": "Possible thin subdural.", "impression": "SDH?"},
        {
            "kind": "final",
            "findings": "Small right subdural haematoma.",
            "impression": "Acute SDH, 4 mm.",
            "discrepancy": "minor",
            "critical_category": 3,
        },
        {"kind": "addendum", "findings": "Compared with 2024: new.", "impression": "New SDH."},
    ):
        r = api.post(f"/api/v1/cases/{case}/report", json=report)
        assert r.status_code == 201, r.text
    r = region.stack.api(region.site_token).get(f"/api/v1/cases/{case}/report?format=json")
    assert r.status_code == 200, r.text
    return case, r.json()


def test_each_version_is_kept_signed_and_the_final_cannot_be_filed_again(region: Region) -> None:
    case, report = final_case(region)
    assert report["kind"] == "final" and report["version"] == 2
    assert report["discrepancy"] == "minor" and report["critical_category"] == 3
    assert report["critical"] is False and report["signature_verified"] is True
    versions = report["versions"]
    assert isinstance(versions, list)
    assert [(v["version"], v["kind"]) for v in versions] == [
        (1, "preliminary"),
        (2, "final"),
        (3, "addendum"),
    ]
    alice = region.experts["alice"]
    assert all(v["signed_by"] == alice.code and v["verified"] for v in versions)
    assert versions[0]["previous_sha256"] is None
    for before, after in zip(versions, versions[1:], strict=False):
        assert after["previous_sha256"] == before["sha256"]
    assert report["sha256"] == versions[1]["sha256"]
    # The final is immutable: another final is refused, and the stored one is unchanged.
    r = region.stack.api(alice.token).post(
        f"/api/v1/cases/{case}/report",
        json={"kind": "final", "findings": "Rewritten.", "impression": "Rewritten."},
    )
    assert r.status_code == 409, r.text
    again = region.stack.api(region.site_token).get(f"/api/v1/cases/{case}/report?format=json")
    assert again.json()["findings"] == "Small right subdural haematoma."
    assert len(again.json()["versions"]) == 3


def test_a_discrepancy_is_a_finals_and_critical_must_agree_with_its_category(
    region: Region,
) -> None:
    alice = region.experts["alice"]
    case = region.submit()["id"]
    api = region.stack.api(alice.token)
    assert api.post(f"/api/v1/cases/{case}/accept").status_code == 200
    for body, field, reason in (
        ({"kind": "preliminary", "discrepancy": "major"}, "discrepancy", "final report only"),
        ({"critical": True, "critical_category": 3}, "critical", "contradicts"),
        ({"critical_category": 4}, "critical_category", "at most 3"),
        ({"discrepancy": "huge"}, "discrepancy", "must be one of none, minor, major"),
    ):
        r = api.post(
            f"/api/v1/cases/{case}/report", json={"findings": "F.", "impression": "I.", **body}
        )
        assert r.status_code == 400, r.text
        assert reason in r.json()["detail"][field]
