"""The retention purge: a study past its site's retention goes, files and rows, with an audit
entry naming no patient; a study of an open case, one under legal hold and a recent one stay;
the nightly schedule is there once the worker started, and a run of it purges. A coordinator
puts a study under legal hold and lifts it by the API; a site's retention and C-MOVE
destinations are set by the API with each bad field named."""

from __future__ import annotations

import asyncio
import html
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydicom.uid import generate_uid
from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import ActivityEnvironment

from activities.purge import PurgeResult, PurgeRun, Purges
from dicom.storage import Storage
from garde.db import SessionFactory
from garde.domain import CaseStatus
from garde.models import AuditEvent, Case, Instance, Series, Site, Study
from garde.registry import create_site
from garde.temporal import TASK_QUEUE
from tests.conftest import Region, Stack, wait_for
from tests.web.test_admin_pages import admin_browser, errors_shown
from workflows.purge import PURGE_HOUR, SCHEDULE_ID

NOW = datetime.now(UTC)
SECRET_NAME = "PURGE^SECRET"
SECRET_ACCESSION = "ACC-SECRET"


@dataclass(frozen=True)
class Kept:
    study_id: int
    files: list[Path]


def _site(s: Session, retention_days: int) -> Site:
    code = "purge-" + secrets.token_hex(4)
    site = create_site(s, {"code": code, "name": code})
    site.study_retention_days = retention_days
    return site


def _case(s: Session, site: Site, status: CaseStatus) -> int:
    """A case as the record has it, its workflow marked started: on the shared stack the
    worker's reconciler would otherwise start one for it, from its record, and the workflow
    of a case recorded final with no report would reopen it (found in a CI run)."""
    case = Case(
        site_id=site.id,
        accession_number=SECRET_ACCESSION + secrets.token_hex(4),
        modality="CT",
        body_part="HEAD",
        study_description="CT head",
        priority="urgent",
        clinical_question="Headache",
        requesting_physician="Dr Test",
        callback_phone="+33471000000",
        status=status,
        offer_timeout_s=300,
        accept_within_s=1200,
        report_within_s=3600,
        escalation=["primary"],
        workflow_started_at=NOW,
    )
    s.add(case)
    s.flush()
    return case.id


def _study(
    s: Session,
    storage: Storage,
    site: Site,
    days_ago: float,
    case: CaseStatus | None = None,
    hold: bool = False,
) -> Kept:
    """A study of two objects whose last arrived `days_ago`, its files on disk."""
    at = NOW - timedelta(days=days_ago)
    study = Study(
        site_id=site.id,
        case_id=_case(s, site, case) if case else None,
        study_instance_uid=generate_uid(),
        patient_name=SECRET_NAME,
        patient_id="PID-SECRET",
        accession_number=SECRET_ACCESSION,
        first_arrival_at=at,
        last_arrival_at=at,
        series_count=1,
        instance_count=2,
        size_bytes=20,
        legal_hold=hold,
        legal_hold_reason="a dispute" if hold else "",
    )
    s.add(study)
    s.flush()
    series = Series(study_id=study.id, series_instance_uid=generate_uid(), instance_count=2)
    s.add(series)
    s.flush()
    files = []
    for _ in range(2):
        uid = generate_uid()
        relative = storage.relative_path(uid)
        path = storage.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"DICM" + bytes(6))
        files.append(path)
        s.add(
            Instance(
                sop_instance_uid=uid,
                series_id=series.id,
                sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                transfer_syntax_uid="1.2.840.10008.1.2.1",
                size_bytes=10,
                path=relative,
                received_at=at,
            )
        )
    return Kept(study.id, files)


def _purge(sessions: SessionFactory, storage: Storage) -> PurgeResult:
    result: PurgeResult = ActivityEnvironment().run(
        Purges(sessions, storage).purge_studies, PurgeRun(NOW)
    )
    return result


def test_the_purge_keeps_open_cases_holds_and_recent_studies(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    storage = Storage(tmp_path / "data")
    with sessions.begin() as s:
        short, long = _site(s, 30), _site(s, 365)
        gone = {
            "final case": _study(s, storage, short, 31, CaseStatus.FINAL),
            "cancelled case": _study(s, storage, short, 200, CaseStatus.CANCELLED),
            "no case": _study(s, storage, short, 40),
        }
        kept = {
            "open case": _study(s, storage, short, 300, CaseStatus.PRELIMINARY),
            "requested case": _study(s, storage, short, 300, CaseStatus.REQUESTED),
            "legal hold": _study(s, storage, short, 300, CaseStatus.FINAL, hold=True),
            "recent": _study(s, storage, short, 29, CaseStatus.FINAL),
            "longer retention": _study(s, storage, long, 300, CaseStatus.FINAL),
        }
        site_code = short.code
        uids = {s.get_one(Study, k.study_id).study_instance_uid for k in gone.values()}
    before = _purge(sessions, storage)

    with sessions() as s:
        left = set(s.scalars(select(Study.id).where(Study.site_id.in_([short.id, long.id]))))
        assert left == {k.study_id for k in kept.values()}
        orphans = s.scalars(
            select(Instance.id)
            .join(Series)
            .where(Series.study_id.in_([k.study_id for k in gone.values()]))
        )
        assert list(orphans) == []
        audits = [
            a
            for a in s.scalars(select(AuditEvent).where(AuditEvent.action == "study.purge"))
            if a.detail.split(",")[0] in uids
        ]
    assert {name: all(not f.exists() for f in k.files) for name, k in gone.items()} == {
        name: True for name in gone
    }
    assert {name: all(f.exists() for f in k.files) for name, k in kept.items()} == {
        name: True for name in kept
    }
    assert len(audits) == len(gone)
    for audit in audits:
        assert audit.action == "study.purge"
        assert f"site {site_code}" in audit.detail and "2 objects" in audit.detail
        assert "SECRET" not in audit.detail
    assert (before.studies, before.instances) >= (3, 6)  # other tests' old studies may go too

    # Run again: nothing more to do.
    again = _purge(sessions, storage)
    assert again == PurgeResult(0, 0, 0)


def test_the_worker_keeps_a_nightly_purge_schedule_whose_run_purges(stack: Stack) -> None:
    async def describe() -> tuple[str, str, list[int]]:
        client = await stack.client()
        description = await client.get_schedule_handle(SCHEDULE_ID).describe()
        action = description.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        [calendar] = description.schedule.spec.calendars
        return action.workflow, action.task_queue, [r.start for r in calendar.hour]

    assert asyncio.run(describe()) == ("RetentionPurge", TASK_QUEUE, [PURGE_HOUR])

    storage = Storage(Path(stack.env["GARDE_DATA_DIR"]))
    with stack.sessions.begin() as s:
        old = _study(s, storage, _site(s, 30), 45, CaseStatus.FINAL)

    async def trigger() -> None:
        await (await stack.client()).get_schedule_handle(SCHEDULE_ID).trigger()

    asyncio.run(trigger())

    def purged() -> bool:
        with stack.sessions() as s:
            return s.get(Study, old.study_id) is None

    wait_for(purged, 60, "the scheduled run to purge the old study")
    assert not any(f.exists() for f in old.files)


def test_a_legal_hold_set_by_the_api_keeps_a_study_until_lifted(shared_region: Region) -> None:
    stack = shared_region.stack
    coordinator = stack.api(shared_region.coordinator_token)
    storage = Storage(Path(stack.env["GARDE_DATA_DIR"]))
    with stack.sessions.begin() as s:
        site = _site(s, 30)
        old = _study(s, storage, site, 45, CaseStatus.FINAL)
        uid = s.get_one(Study, old.study_id).study_instance_uid
    hold = f"/api/v1/studies/{uid}/hold"

    refused = stack.api(shared_region.site_token).put(hold, json={"reason": "a dispute"})
    assert refused.status_code == 403
    assert coordinator.put(hold, json={}).json()["detail"] == {"reason": "is required"}
    assert (
        coordinator.put("/api/v1/studies/1.2.3.4.5.6.7.8.9/hold", json={"reason": "x"}).status_code
        == 404
    )
    assert coordinator.put("/api/v1/studies/not-a-uid/hold", json={"reason": "x"}).json()[
        "detail"
    ] == {"study": "must be a DICOM UID (digits and dots)"}

    held = coordinator.put(hold, json={"reason": "a dispute with the insurer"})
    assert held.status_code == 200, held.text
    assert held.json() == {
        "study_instance_uid": uid,
        "sites": [site.code],
        "legal_hold": True,
        "legal_hold_reason": "a dispute with the insurer",
    }
    _purge(stack.sessions, storage)
    assert all(f.exists() for f in old.files)

    lifted = coordinator.delete(hold)
    assert lifted.json()["legal_hold"] is False
    _purge(stack.sessions, storage)
    with stack.sessions() as s:
        assert s.get(Study, old.study_id) is None
        # By UID: a purged study's id may be given again (SQLite reuses the highest).
        actions = s.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.detail.startswith(uid))
            .order_by(AuditEvent.id)
        ).all()
    assert actions == ["study.hold", "study.release", "study.purge"]


def test_a_sites_retention_and_move_destinations_by_the_api(shared_region: Region) -> None:
    api = shared_region.stack.api(shared_region.admin_token)
    site = f"/api/v1/sites/{shared_region.site}"
    title = "PACS" + secrets.token_hex(4).upper()
    assert api.patch(site, json={"ae_titles": [title]}).status_code == 200
    bad = api.patch(
        site,
        json={
            "study_retention_days": 0,
            "move_destinations": {title: "pacs.example.org:70000", "NOT-OURS": "10.0.0.5:104"},
        },
    )
    assert bad.status_code == 400
    assert bad.json()["detail"] == {
        "study_retention_days": "must be between 1 and 36500",
        "move_destinations": f"{title}: the port must be a number from 1 to 65535",
    }
    bad = api.patch(site, json={"move_destinations": {"NOT-OURS": "10.0.0.5:104"}})
    assert bad.json()["detail"] == {"move_destinations": "NOT-OURS: not among the site's ae_titles"}

    done = api.patch(
        site, json={"study_retention_days": 3650, "move_destinations": {title: "[::1]:11112"}}
    )
    assert done.status_code == 200, done.text
    assert (done.json()["study_retention_days"], done.json()["move_destinations"]) == (
        3650,
        {title: "[::1]:11112"},
    )
    cleared = api.patch(site, json={"move_destinations": None, "study_retention_days": 90})
    assert (cleared.json()["study_retention_days"], cleared.json()["move_destinations"]) == (90, {})


def test_the_admins_site_page_sets_retention_and_move_destinations(
    shared_region: Region,
) -> None:
    admin, _ = admin_browser(shared_region)
    api = shared_region.stack.api(shared_region.admin_token)
    page = f"/admin/sites/{shared_region.site}"
    title = "PACS" + secrets.token_hex(4).upper()
    assert api.patch(f"/api/v1/sites/{shared_region.site}", json={"ae_titles": [title]}).ok
    form = {
        **_form_values(admin.get(page).text),
        "language": api.get(f"/api/v1/sites/{shared_region.site}").json()["language"],
        "study_retention_days": "0",
        "move_destinations": f"{title}=pacs.example.org",
    }
    r = admin.submit(page, page, form)
    assert r.status_code == 400
    assert errors_shown(r.text) == {
        "study_retention_days": "Studies kept (days) must be between 1 and 36500",
        "move_destinations": f"C-MOVE destinations {title}: 'pacs.example.org' is not host:port",
    }
    r = admin.submit(
        page,
        page,
        {
            **form,
            "study_retention_days": "400",
            "move_destinations": f"{title}=pacs.example.org:104",
        },
    )
    assert r.status_code == 302, r.text
    site = api.get(f"/api/v1/sites/{shared_region.site}").json()
    assert (site["study_retention_days"], site["move_destinations"]) == (
        400,
        {title: "pacs.example.org:104"},
    )
    assert f'value="{title}=pacs.example.org:104"' in admin.get(page).text


def _form_values(page: str) -> dict[str, str]:
    """The site form's text fields as the page shows them (its one select aside)."""
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', page)
        if name != "csrf_token"
    }
