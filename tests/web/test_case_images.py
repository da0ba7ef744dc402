"""What arrived of a case's images, as the site, the expert and the coordinator read it: the
series and instance counts, receiving or stable, new images after stable (in French and in
English), and the `study` part of the API's case answers; a case opened by images reminds
its site to give the clinical question. Study rows are written as the index writes them and
linked by dicom.arrivals; the workflow's part is tests/workflows/test_studies.py."""

from __future__ import annotations

import asyncio
import html
import re
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from dicom.arrivals import announce, link
from dicom.index import StudyBatch
from garde.domain import EventKind, Role
from garde.models import Case, CaseEvent, Site, SiteAeTitle, Study
from tests.conftest import Region, add_login
from tests.web.test_pages import Browser

FR = {"Accept-Language": "fr"}


def arrive(region: Region, accession: str, title: str = "ANY") -> tuple[int, list[int]]:
    """A study of 2 series and 40 instances indexed for the region's site, linked and
    announced; the study and the cases told."""
    now = datetime.now(UTC)
    with region.stack.sessions() as s:
        site_id = s.scalar(select(Site.id).where(Site.code == region.site))
        assert site_id is not None
        study = Study(
            site_id=site_id,
            study_instance_uid=f"1.2.826.0.7.{secrets.randbelow(10**12)}",
            accession_number=accession,
            modalities=["CT"],
            body_part="HEAD",
            first_arrival_at=now - timedelta(seconds=20),
            last_arrival_at=now,
            series_count=2,
            instance_count=40,
        )
        s.add(study)
        s.commit()
        done = StudyBatch(
            study_id=study.id,
            site_id=site_id,
            study_instance_uid=study.study_instance_uid,
            accession_number=accession,
            calling_ae=title,
            series_count=2,
            instance_count=40,
            new_series=2,
            new_instances=40,
            first_at=study.first_arrival_at,
            last_at=now,
        )
        arrivals = link(s, [done])

    async def tell() -> None:
        await announce(await region.stack.client(), arrivals)

    asyncio.run(tell())
    return study.id, [a.case_id for a in arrivals]


def text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_each_audience_reads_what_arrived(region: Region) -> None:
    case = region.submit()
    site = Browser(region.stack).login(region.site_username)
    coordinator_api = region.stack.api(region.coordinator_token)
    assert coordinator_api.get(f"/api/v1/cases/{case['id']}").json()["study"] is None
    assert "No images received yet." in text(site.get(f"/site/cases/{case['id']}").text)

    study_id, told = arrive(region, case["accession_number"])
    assert told == [case["id"]]

    study = coordinator_api.get(f"/api/v1/cases/{case['id']}").json()["study"]
    assert (study["series"], study["instances"], study["stable"]) == (2, 40, False)
    assert study["new_images_at"] is None
    page = text(site.get(f"/site/cases/{case['id']}").text)
    assert "2 series, 40 images receiving" in page
    assert "Images arrived 2 series, 40 images" in page  # the timeline's first arrival
    with region.stack.sessions.begin() as s:
        username = add_login(s, f"coord-{secrets.token_hex(3)}", Role.COORDINATOR).username
    coordinator = Browser(region.stack).login(username)
    assert "2 series, 40 images receiving" in text(
        coordinator.get(f"/coordinator/cases/{case['id']}").text
    )

    alice = region.experts["alice"]
    # Offered: the summary carries the counts, never the study's identity.
    offered = region.stack.api(alice.token).get(f"/api/v1/cases/{case['id']}").json()
    assert offered["sight"] == "summary" and offered["study"]["instances"] == 40
    r = region.stack.api(alice.token).post(f"/api/v1/cases/{case['id']}/accept")
    assert r.status_code == 200, r.text
    expert = Browser(region.stack).login(alice.username)
    assert "2 series, 40 images receiving" in text(expert.get("/expert/").text)

    # The workflow called it stable, then new images came (as the record then says).
    with region.stack.sessions.begin() as s:
        s.execute(update(Study).where(Study.id == study_id).values(stable_at=datetime.now(UTC)))
    assert "2 series, 40 images stable" in text(expert.get(f"/expert/cases/{case['id']}").text)
    assert coordinator_api.get(f"/api/v1/cases/{case['id']}").json()["study"]["stable"] is True
    with region.stack.sessions.begin() as s:
        s.add(
            CaseEvent(
                case_id=case["id"],
                key=f"test-reopen-{study_id}",
                at=datetime.now(UTC),
                kind=EventKind.STUDY_REOPENED,
                detail="1 series, 20 instances",
            )
        )
        s.execute(update(Study).where(Study.id == study_id).values(stable_at=None))
    worklist = text(expert.get("/expert/").text)
    assert "receiving new images arrived" in worklist
    page = text(expert.get(f"/expert/cases/{case['id']}", headers=FR).text)
    assert "2 séries, 40 images" in page and "nouvelles images arrivées" in page
    assert "1 série, 20 images" in page  # the timeline's reopening, in words
    assert coordinator_api.get(f"/api/v1/cases/{case['id']}").json()["study"]["new_images_at"]


def test_a_case_opened_by_images_reminds_its_site_of_the_question(region: Region) -> None:
    title = "OPEN" + secrets.token_hex(3).upper()
    with region.stack.sessions.begin() as s:
        site_id = s.scalar(select(Site.id).where(Site.code == region.site))
        s.add(SiteAeTitle(ae_title=title, site_id=site_id, open_cases=True, priority="stat"))
    accession = "ACC-" + secrets.token_hex(4)

    _, [case_id] = arrive(region, accession, title)

    with region.stack.sessions() as s:
        case = s.get_one(Case, case_id)
        assert (case.priority, case.clinical_question) == ("stat", "")
    site = Browser(region.stack).login(region.site_username)
    page = text(site.get(f"/site/cases/{case_id}").text)
    assert f"with the accession number {accession} to give the clinical question" in page
    assert "the images opened the case" in page

    # The site's request completes it: the same case, its question now given.
    r = region.stack.api(region.site_token).post(
        "/api/v1/cases",
        json={
            "accession_number": accession,
            "modality": "CT",
            "body_part": "HEAD",
            "study_description": "CT head",
            "priority": "stat",
            "clinical_question": "Sudden headache",
            "requesting_physician": "Dr Urgences",
            "callback_phone": "+33471000000",
        },
    )
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["clinical_question"]) == (case_id, "Sudden headache")
    assert "to give the clinical question" not in text(site.get(f"/site/cases/{case_id}").text)
