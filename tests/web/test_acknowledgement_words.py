"""The acknowledgement of a report, as a page and the printed report tell it: its timeline
steps in the reader's words (their stored details stay as the workflow wrote them), what was
acknowledged (a critical finding or a major discrepancy), and the printed report's banner
once the site acknowledged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from garde.db import make_engine, upgrade
from garde.domain import AlertKind, CaseStatus, EventKind
from garde.models import Case, CaseEvent, Expert, Report, ReportAcknowledgement, Site
from garde.settings import Settings
from reports.sheet import ReportSheet
from web import create_app
from web.display import alert_text, event_detail, event_label

AT = datetime(2026, 3, 29, 1, 5, tzinfo=UTC)
PHONE = "+33465710001"
NUMBERS = count()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    data_dir: Path = tmp_path_factory.mktemp("ack-words")
    settings = Settings.from_env({"GARDE_DATA_DIR": str(data_dir)})
    upgrade(settings.database_url)
    app = create_app(settings)
    app.config["DATABASE_URL"] = settings.database_url
    return app


@pytest.fixture()
def db(app: Flask) -> Iterator[Session]:
    with Session(make_engine(app.config["DATABASE_URL"])) as s:
        yield s
        s.rollback()


def a_case(s: Session, *reasons: str) -> Case:
    """A final case whose versions each owed an acknowledgement for `reasons`, the first
    acknowledged by the site's call-back phone."""
    n = next(NUMBERS)
    site = Site(code=f"CH-W{n}", name="CH", timezone="Europe/Paris")
    expert = Expert(code=f"DR-W{n}", name="Dr W", phone=f"+3360000000{n}")
    case = Case(
        site=site,
        accession_number="ACC1",
        modality="CT",
        body_part="HEAD",
        study_description="CT head",
        priority="stat",
        clinical_question="?",
        requesting_physician="Dr U",
        callback_phone=PHONE,
        status=CaseStatus.FINAL,
        offer_timeout_s=180,
        accept_within_s=600,
        report_within_s=1800,
        requested_at=AT,
    )
    s.add(case)
    s.flush()
    for version, reason in enumerate(reasons, start=1):
        critical = reason == "critical"
        report = Report(
            case_id=case.id,
            version=version,
            expert=expert,
            kind="final" if version == 1 else "addendum",
            findings="f",
            impression="i",
            critical_category=1 if critical else None,
            critical=critical,
            discrepancy=None if critical else "major",
            created_at=AT,
            sha256=f"{version:064d}",
            request_key=f"case-{case.id}:{version}",
        )
        case.reports.append(report)
        s.flush()
        s.add(
            ReportAcknowledgement(
                case_id=case.id,
                report=report,
                reason=reason,
                category=1 if critical else 2,
                requested_at=AT,
                due_at=AT + timedelta(minutes=15),
                acknowledged_at=AT + timedelta(minutes=7) if version == 1 else None,
                acknowledged_by=PHONE if version == 1 else None,
                acknowledged_via="voice" if version == 1 else None,
            )
        )
    s.flush()
    return case


def entry(case: Case, kind: str, detail: str, key: str = "") -> CaseEvent:
    """A timeline entry of `case`, as the workflows store it."""
    event = CaseEvent(case=case, key=key or f"k-{len(case.events)}", at=AT, kind=kind)
    event.detail = detail
    session = object_session(case)
    assert session is not None
    session.add(event)
    return event


def test_the_acknowledgement_steps_are_told_in_the_readers_words(app: Flask, db: Session) -> None:
    case = a_case(db, "critical", "discrepancy")
    first, second = (r.id for r in case.reports)
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        details = {
            stored: event_detail(entry(case, kind, stored))
            for kind, stored in (
                (EventKind.ACK_REQUESTED, f"critical category 1, report {first}"),
                (EventKind.ACK_REQUESTED, f"discrepancy category 2, report {second}"),
                (EventKind.SITE_TEXTED, "asked"),
                (EventKind.SITE_TEXTED, "reminded; skipped: no phone"),
                (EventKind.SITE_CALLED, "not sent"),
                (EventKind.ACKNOWLEDGED, f"by {PHONE} via voice"),
                (EventKind.ACKNOWLEDGED, "by site-user"),
                (EventKind.STATUS, "critical finding"),
            )
        }
        assert details == {
            f"critical category 1, report {first}": gettext(
                "critical finding, category %(category)s", category="1"
            ),
            f"discrepancy category 2, report {second}": gettext(
                "major discrepancy, category %(category)s", category="2"
            ),
            "asked": gettext("asked"),
            "reminded; skipped: no phone": gettext("reminded")
            + "; "
            + gettext("skipped: no phone"),
            "not sent": gettext("not sent"),
            f"by {PHONE} via voice": gettext(
                "by %(who)s %(via)s", who=PHONE, via=gettext("by phone")
            ),
            "by site-user": gettext("by %(who)s", who="site-user"),
            "critical finding": gettext("critical finding"),
        }
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert event_detail(entry(case, EventKind.ACKNOWLEDGED, f"by {PHONE} via voice")) == (
            f"by {PHONE} by phone"
        )
        assert event_detail(
            entry(case, EventKind.ACK_REQUESTED, "discrepancy category 2, report 9")
        ) == ("major discrepancy, category 2")
        assert event_detail(entry(case, EventKind.SITE_TEXTED, "whatever else")) == "whatever else"


def test_what_was_acknowledged_is_named_by_its_reason(app: Flask, db: Session) -> None:
    case = a_case(db, "discrepancy", "critical")
    discrepancy, critical = (r.id for r in case.reports)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        said = [
            event_label(
                entry(case, EventKind.ACKNOWLEDGED, "by x via web", f"ack-{rid}-acknowledged")
            )
            for rid in (discrepancy, critical)
        ]
        assert said == ["Major discrepancy acknowledged", "Critical finding acknowledged"]
        # The case workflow's own entry, from before each version had its workflow.
        assert event_label(entry(case, EventKind.ACKNOWLEDGED, "by x")) == (
            "Critical finding acknowledged"
        )
        # Overdue: the version still waiting is the critical one.
        assert alert_text(AlertKind.ACK_OVERDUE, case) == (
            "a critical finding not acknowledged in time"
        )
        assert alert_text(AlertKind.ACK_OVERDUE, a_case(db, "discrepancy")) == (
            "a major discrepancy not acknowledged in time"
        )
        assert alert_text(AlertKind.ACK_OVERDUE) == "a critical finding not acknowledged in time"
        # The timeline's entry is about its own version.
        alerted = entry(
            case,
            EventKind.COORDINATORS_ALERTED,
            AlertKind.ACK_OVERDUE,
            f"ack-{discrepancy}-coordinators",
        )
        assert event_detail(alerted) == "a major discrepancy not acknowledged in time"


def test_the_printed_report_says_who_acknowledged_instead_of_asking_again(
    app: Flask, db: Session
) -> None:
    case = a_case(db, "critical", "critical")
    asked = list(
        db.scalars(select(ReportAcknowledgement).where(ReportAcknowledgement.case_id == case.id))
    )
    with app.test_request_context(headers={"Accept-Language": "en"}):
        done, waiting = (ReportSheet.of(case, r, asked).banner for r in case.reports)
    assert done is not None and waiting is not None
    assert (done.category, done.note, done.urgent) == (
        "ACR category 1: immediate",
        f"Critical finding acknowledged by {PHONE} on 29 March 2026 03:12 (Europe/Paris)",
        True,
    )
    assert waiting.note == "Critical finding: the site must acknowledge this report"
