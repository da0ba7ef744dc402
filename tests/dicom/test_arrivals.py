"""Studies the index committed, linked to their cases (dicom/arrivals.py): by accession
number, else by Study Instance UID; a case opened by the images when the AE title says so,
completed by the site's request later; images that came before their request claimed by it.
Study rows are written here as the index writes them: no gateway needed."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dicom.arrivals import link
from garde.db import SessionFactory
from garde.domain import EventKind, Priority
from garde.intake import CaseRequest, awaits_question, case_start, record_case
from garde.models import Case, CaseEvent, Site, SiteAeTitle, Study
from garde.service_levels import DEFAULT_SERVICE_LEVELS
from tests.dicom.conftest import batch

ARRIVED = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)


def a_site(s: Session, opens: bool = False, priority: str = "stat") -> tuple[Site, str]:
    """A site sending from one AE title (opening cases or not); the site and the title."""
    tag = secrets.token_hex(3).upper()
    site = Site(code=f"AR-{tag}", name=f"CH {tag}", phone="+33471000001")
    title = f"CT{tag}"
    site.ae_title_rows = [SiteAeTitle(ae_title=title, open_cases=opens, priority=priority)]
    s.add(site)
    s.commit()
    return site, title


def a_study(s: Session, site: Site, accession: str = "", uid: str | None = None) -> Study:
    study = Study(
        site_id=site.id,
        study_instance_uid=uid or f"1.2.826.0.1.{secrets.randbelow(10**12)}",
        accession_number=accession,
        modalities=["SR", "CT"],
        body_part="HEAD",
        study_description="CT head",
        first_arrival_at=ARRIVED,
        last_arrival_at=ARRIVED + timedelta(seconds=20),
        series_count=2,
        instance_count=40,
    )
    s.add(study)
    s.commit()
    return study


def a_request(**overrides: object) -> CaseRequest:
    fields: dict[str, object] = {
        "accession_number": "ACC-" + secrets.token_hex(4),
        "modality": "CT",
        "body_part": "HEAD",
        "study_description": "CT head without contrast",
        "priority": "urgent",
        "clinical_question": "Fall on anticoagulants, rule out bleed",
        "requesting_physician": "Dr Urgences",
        "callback_phone": "+33471000000",
    }
    fields.update(overrides)
    return CaseRequest.parse(fields, Site(timezone="Europe/Paris"))


def arrivals_on(s: Session, case_id: int) -> list[CaseEvent]:
    return list(
        s.scalars(
            select(CaseEvent).where(
                CaseEvent.case_id == case_id, CaseEvent.kind == EventKind.STUDY_ARRIVED
            )
        )
    )


def test_a_study_links_to_the_case_of_its_accession_number(sessions: SessionFactory) -> None:
    with sessions() as s:
        site, title = a_site(s)
        case, _ = record_case(s, site, a_request())
        study = a_study(s, site, accession=case.accession_number)

        [arrival] = link(s, [batch(study, title, 2, 40)])

        assert (arrival.case_id, arrival.study_id) == (case.id, study.id)
        assert (arrival.series, arrival.instances) == (2, 40)
        assert arrival.case_start is None
        s.refresh(study)
        assert study.case_id == case.id
        [first] = arrivals_on(s, case.id)
        assert (first.at, first.detail) == (ARRIVED, "2 series, 40 instances")


def test_without_its_accession_number_a_study_links_by_its_uid(sessions: SessionFactory) -> None:
    with sessions() as s:
        site, title = a_site(s)
        uid = f"1.2.250.1.{secrets.randbelow(10**9)}"
        case, _ = record_case(s, site, a_request(study_instance_uid=uid))
        study = a_study(s, site, accession="OTHER-" + secrets.token_hex(3), uid=uid)

        [arrival] = link(s, [batch(study, title, 2, 40)])

        assert arrival.case_id == case.id


def test_the_accession_number_wins_over_the_uid(sessions: SessionFactory) -> None:
    with sessions() as s:
        site, title = a_site(s)
        uid = f"1.2.250.2.{secrets.randbelow(10**9)}"
        by_uid, _ = record_case(s, site, a_request(study_instance_uid=uid))
        by_accession, _ = record_case(s, site, a_request())
        study = a_study(s, site, accession=by_accession.accession_number, uid=uid)

        [arrival] = link(s, [batch(study, title, 2, 40)])

        assert arrival.case_id == by_accession.id != by_uid.id


def test_another_sites_case_is_never_matched(sessions: SessionFactory) -> None:
    with sessions() as s:
        site, title = a_site(s)
        other, _ = a_site(s)
        theirs, _ = record_case(s, other, a_request())
        study = a_study(s, site, accession=theirs.accession_number)

        assert link(s, [batch(study, title, 2, 40)]) == []
        s.refresh(study)
        assert study.case_id is None


def test_a_later_batch_is_told_but_the_first_arrival_recorded_once(
    sessions: SessionFactory,
) -> None:
    with sessions() as s:
        site, title = a_site(s)
        case, _ = record_case(s, site, a_request())
        study = a_study(s, site, accession=case.accession_number)
        link(s, [batch(study, title, 2, 40)])
        study.series_count, study.instance_count = 3, 60
        s.commit()

        # One association's batch may name a study twice: one arrival, what it added summed.
        [arrival] = link(s, [batch(study, title, 1, 10), batch(study, title, 0, 10)])

        assert (arrival.series, arrival.instances) == (3, 60)
        assert (arrival.new_series, arrival.new_instances) == (1, 20)
        assert len(arrivals_on(s, case.id)) == 1


def test_images_before_their_request_wait_and_the_request_claims_them(
    sessions: SessionFactory,
) -> None:
    with sessions() as s:
        site, title = a_site(s, opens=False)
        accession = "ACC-" + secrets.token_hex(4)
        study = a_study(s, site, accession=accession)

        assert link(s, [batch(study, title, 2, 40)]) == []
        assert s.scalar(select(Case).where(Case.accession_number == accession)) is None

        case, created = record_case(s, site, a_request(accession_number=accession))

        assert created
        s.refresh(study)
        assert study.case_id == case.id
        [first] = arrivals_on(s, case.id)
        assert first.detail == "2 series, 40 instances"
        # The workflow starts knowing the study: its quiet period runs from then.
        [known] = case_start(case).studies
        assert (known.study_id, known.instances) == (study.id, 40)


def test_the_request_claims_waiting_images_by_uid(sessions: SessionFactory) -> None:
    with sessions() as s:
        site, title = a_site(s, opens=False)
        uid = f"1.2.250.3.{secrets.randbelow(10**9)}"
        study = a_study(s, site, accession="", uid=uid)
        assert link(s, [batch(study, title, 2, 40)]) == []

        case, _ = record_case(s, site, a_request(study_instance_uid=uid))

        s.refresh(study)
        assert study.case_id == case.id


def test_an_ae_title_that_opens_cases_opens_one_with_the_sites_promise(
    sessions: SessionFactory,
) -> None:
    with sessions() as s:
        site, title = a_site(s, opens=True, priority="stat")
        accession = "ACC-" + secrets.token_hex(4)
        study = a_study(s, site, accession=accession)

        [arrival] = link(s, [batch(study, title, 2, 40)])

        case = s.get_one(Case, arrival.case_id)
        assert (case.accession_number, case.study_instance_uid) == (
            accession,
            study.study_instance_uid,
        )
        assert (case.priority, case.modality, case.body_part) == ("stat", "CT", "HEAD")
        stat = DEFAULT_SERVICE_LEVELS[Priority.STAT]
        assert (case.offer_timeout_s, case.report_within_s) == (
            stat.offer_timeout_s,
            stat.report_within_s,
        )
        # The site is asked for what images cannot say.
        assert awaits_question(case)
        assert (case.clinical_question, case.requesting_physician) == ("", "")
        assert case.callback_phone == site.phone
        [first] = arrivals_on(s, case.id)
        assert first.detail == "2 series, 40 instances; opened the case"
        # Its workflow is started with the study, not signalled.
        assert arrival.case_start is not None
        assert [a.study_id for a in arrival.case_start.studies] == [study.id]
        assert arrival.case_start.priority is Priority.STAT

        # The site's request with the same accession number completes the case.
        again, created = record_case(
            s, site, a_request(accession_number=accession, priority="routine")
        )
        assert (again.id, created) == (case.id, False)
        assert again.clinical_question == "Fall on anticoagulants, rule out bleed"
        assert again.requesting_physician == "Dr Urgences"
        assert again.priority == "stat"  # a change of priority goes through the workflow
        assert not awaits_question(again)


def test_a_case_opened_by_images_without_accession_is_completed_by_uid(
    sessions: SessionFactory,
) -> None:
    with sessions() as s:
        site, title = a_site(s, opens=True, priority="urgent")
        study = a_study(s, site, accession="")

        [arrival] = link(s, [batch(study, title, 2, 40)])
        case = s.get_one(Case, arrival.case_id)
        assert case.accession_number == study.study_instance_uid

        again, created = record_case(
            s, site, a_request(study_instance_uid=study.study_instance_uid)
        )
        assert (again.id, created) == (case.id, False)
        assert not awaits_question(again)


def test_an_ae_title_of_another_site_opens_nothing(sessions: SessionFactory) -> None:
    with sessions() as s:
        site, _ = a_site(s)
        _, theirs = a_site(s, opens=True)
        study = a_study(s, site, accession="ACC-" + secrets.token_hex(4))

        assert link(s, [batch(study, theirs, 2, 40)]) == []


def test_the_workflow_is_told_the_sites_own_quiet_period(sessions: SessionFactory) -> None:
    with sessions() as s:
        site, title = a_site(s)
        site.study_quiet_s = 120
        case, _ = record_case(s, site, a_request())
        study = a_study(s, site, accession=case.accession_number)
        [arrival] = link(s, [batch(study, title, 2, 40)])
        assert arrival.quiet_s == 120
