"""The analytics read from the record: a handful of cases with known times give exactly
predictable percentiles, histogram buckets, heat-map cells, compliance and reads."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from garde.analytics import analytics
from garde.db import SessionFactory, make_engine, make_session_factory, upgrade
from garde.models import Case, Expert, Report, Site
from tests.conftest import postgres_database
from tests.phones import mobile

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(scope="module")
def sessions(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionFactory]:
    """A database of this module's own, of the same kind: a region-wide count over 2025 would
    see these cases in the shared one, and the record deletes no report to clean up after."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path_factory.mktemp('analytics') / 'garde.db'}"
        yield from _migrated(url)
    else:
        for url in postgres_database():
            yield from _migrated(url)


def _migrated(url: str) -> Iterator[SessionFactory]:
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


# Seconds allowed to accept and to report, per priority (the defaults).
WITHIN = {"stat": (600, 1800), "urgent": (1200, 3600), "routine": (7200, 86400)}


def record_case(
    s: Session,
    site: Site,
    requested: datetime,
    priority: str = "urgent",
    accept_min: float | None = None,
    report_min: float | None = None,
    reader: Expert | None = None,
    status: str | None = None,
) -> Case:
    """A case as the workflow leaves it: accepted and reported so many minutes after the
    request (a final report signed by `reader`), already started (the reconciler leaves it)."""
    accept_s, report_s = WITHIN[priority]
    at = requested.astimezone(UTC)
    accepted = at + timedelta(minutes=accept_min) if accept_min is not None else None
    reported = at + timedelta(minutes=report_min) if report_min is not None else None
    case = Case(
        site_id=site.id,
        accession_number="AN-" + secrets.token_hex(6),
        modality="CT",
        body_part="HEAD",
        study_description="CT head",
        priority=priority,
        clinical_question="Headache",
        requesting_physician="Dr Test",
        callback_phone="+33471000000",
        status=status or ("final" if reported else "accepted" if accepted else "offered"),
        offer_timeout_s=300,
        accept_within_s=accept_s,
        report_within_s=report_s,
        escalation=["primary"],
        requested_at=at,
        workflow_started_at=at,
        accepted_at=accepted,
        reported_at=reported,
        closed_at=reported,
        assigned_expert_id=reader.id if reader else None,
    )
    s.add(case)
    s.flush()
    if reported and reader:
        s.add(
            Report(
                case_id=case.id,
                expert_id=reader.id,
                request_key=f"analytics-{case.id}",
                kind="final",
                findings="Normal.",
                impression="Normal",
                created_at=reported,
                version=1,
                sha256="0" * 64,  # not checked here
            )
        )
    return case


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def test_times_volume_compliance_and_reads_of_a_period(sessions: SessionFactory) -> None:
    tag = secrets.token_hex(3).upper()
    with sessions.begin() as s:
        a, b = Site(code=f"AN-A-{tag}", name="A"), Site(code=f"AN-B-{tag}", name="B")
        x = Expert(code=f"ANX-{tag}", name=f"Analyst X {tag}", phone=mobile())
        y = Expert(code=f"ANY-{tag}", name=f"Analyst Y {tag}", phone=mobile())
        s.add_all([a, b, x, y])
        s.flush()
        # Site A. Saturday 1 March 00:30 in Paris (still February in UTC): in the period.
        record_case(s, a, paris(2025, 3, 1, 0, 30), "urgent", 5, 30, x)
        record_case(s, a, paris(2025, 3, 3, 10, 15), "urgent", 10, 50, x)
        record_case(s, a, paris(2025, 3, 3, 10, 40), "stat", 15, 45, y)  # both deadlines missed
        # Still open on 1 May: accepted in time, its report due the next evening.
        record_case(s, a, paris(2025, 4, 30, 22, 0), "routine", 30)
        record_case(s, a, paris(2025, 3, 9, 3, 0), "urgent", status="cancelled")
        # Friday 28 February 23:30 in Paris: before the period, and so is its read.
        record_case(s, a, paris(2025, 2, 28, 23, 30), "urgent", 1, 2, x)
        # Site B: accepted on the dot (met), reported 10 minutes late.
        record_case(s, b, paris(2025, 4, 7, 9, 0), "urgent", 20, 70, y)
        a_code, b_code, x_code, y_code, a_id = a.code, b.code, x.code, y.code, a.id
    now = datetime(2025, 5, 1, tzinfo=UTC)
    with sessions() as s:
        one = analytics(s, date(2025, 3, 1), date(2025, 4, 30), PARIS, a_id, now)
        every = analytics(s, date(2025, 3, 1), date(2025, 4, 30), PARIS, None, now)

    assert one.site == a_code and one.cases == 5  # the cancelled one counts in the volume
    accept = one.times["accept"]["site"][a_code]
    assert (accept.count, accept.p50_s, accept.p90_s, accept.max_s) == (4, 750, 1530, 1800)
    # Buckets: <5 min, 5–10, 10–20, 20–30, 30–60 min, … : 5, 10, 15 and 30 minutes.
    assert accept.buckets == (0, 1, 2, 0, 1, 0, 0, 0, 0)
    report = one.times["report"]["site"][a_code]
    assert (report.count, report.p50_s, report.p90_s, report.max_s) == (3, 2700, 2940, 3000)
    by_priority = one.times["accept"]["priority"]
    assert list(by_priority) == ["stat", "urgent", "routine"]
    assert [d.count for d in by_priority.values()] == [1, 2, 1]
    assert by_priority["urgent"].p50_s == 450
    assert {k: d.count for k, d in one.times["accept"]["month"].items()} == {
        "2025-03": 3,
        "2025-04": 1,
    }

    kept = one.compliance["site"][a_code]
    assert (kept["accept"].met, kept["accept"].missed, kept["accept"].open) == (3, 1, 0)
    assert (kept["report"].met, kept["report"].missed, kept["report"].open) == (2, 1, 1)
    assert kept["report"].met_share == 2 / 3
    april = one.compliance["month"]["2025-04"]
    assert (april["accept"].met, april["report"].open) == (1, 1)

    # Monday is row 0; hours on the region's clock.
    cells = {
        (day, hour): n for day, row in enumerate(one.volume) for hour, n in enumerate(row) if n
    }
    assert cells == {(5, 0): 1, (0, 10): 2, (2, 22): 1, (6, 3): 1}
    assert [(r.code, r.reads) for r in one.reads] == [(x_code, 2), (y_code, 1)]

    other = every.times["accept"]["site"][b_code]
    assert (other.count, other.p50_s, other.max_s) == (1, 1200, 1200)
    b_kept = every.compliance["site"][b_code]
    assert (b_kept["accept"].met, b_kept["report"].missed) == (1, 1)
    assert every.times["accept"]["site"][a_code] == accept
    reads = {r.code: r.reads for r in every.reads}
    assert (reads[x_code], reads[y_code]) == (2, 2)
    assert every.as_json()["compliance"]["site"][a_code]["report"]["met_share"] == 2 / 3
