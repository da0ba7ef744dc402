"""The demo region: idempotent, covering every site around the clock, right across DST."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import column, delete, func, select, table
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from billing.tariffs import ALWAYS
from billing.terms import Band, PricedAt, Surcharge
from garde.accounts import add_user, check_login
from garde.db import MIGRATIONS, SessionFactory, make_engine, make_session_factory, upgrade
from garde.demo import (
    COORDINATOR_PASSWORD,
    DEMO_LOGINS,
    EXPERTS,
    PRICES,
    SITES,
    demo_logins_exist,
    load_demo_data,
)
from garde.demo_history import READS
from garde.domain import CaseStatus, EventKind, ReportKind, Role
from garde.models import Base, BillingLine, Case, Expert, Shift, Site, User
from garde.phones import normalise
from reports.signing import verify_chain
from rosters.eligibility import on_duty_experts
from tests.conftest import postgres_database

PARIS = ZoneInfo("Europe/Paris")
SURCHARGES = {"night": 4000, "sunday": 2500, "holiday": 2500}
GARDE = [sys.executable, "-m", "garde.cli"]


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[SessionFactory]:
    url = f"sqlite:///{tmp_path / 'garde.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def load(sessions: SessionFactory, today: date | None = None) -> str:
    with sessions.begin() as s:
        return load_demo_data(s, today=today)


def row_counts(session: Session) -> dict[str, int]:
    return {
        table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
        for table in Base.metadata.sorted_tables
    }


def shift_keys(session: Session) -> list[tuple[int, datetime, str]]:
    rows = session.execute(select(Shift.expert_id, Shift.start, Shift.tier))
    return [(expert_id, start, tier) for expert_id, start, tier in rows]


def local(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=PARIS).astimezone(UTC)


def test_second_run_changes_nothing(sessions: SessionFactory) -> None:
    load(sessions)
    with sessions() as s:
        before = row_counts(s)
    summary = load(sessions)
    with sessions() as s:
        after = row_counts(s)
    assert after == before
    assert before["sites"] == 6 and before["experts"] == 12 and before["shifts"] > 0
    assert before["users"] == len(DEMO_LOGINS)
    assert before["cases"] == before["reports"] == before["billing_lines"] == READS
    assert "added 0 sites, 0 experts, 0 shifts, 0 logins and 0 past reads" in summary


def test_run_on_a_later_day_adds_only_the_new_days(sessions: SessionFactory) -> None:
    first_day = date(2026, 6, 1)
    load(sessions, first_day)
    with sessions() as s:
        before = row_counts(s)
    load(sessions, first_day + timedelta(days=2))
    with sessions() as s:
        after = row_counts(s)
        keys = shift_keys(s)
        last_start = s.scalar(select(func.max(Shift.start)))
    # Two more days, each with a day and a night slot of 4 primary and 4 backup experts.
    assert after["shifts"] == before["shifts"] + 2 * 2 * 8
    assert len(keys) == len(set(keys))
    assert {k: v for k, v in after.items() if k != "shifts"} == {
        k: v for k, v in before.items() if k != "shifts"
    }
    assert last_start == local(first_day + timedelta(days=29), 20)


def test_every_site_has_four_ct_readers_on_duty_all_week(sessions: SessionFactory) -> None:
    load(sessions)
    now = datetime.now(UTC)
    # Who is on duty changes only at a change of shift, so a gap would show just before or at
    # a boundary; the sampling every 3 hours is there in case the roster grows other hours.
    instants = [now + timedelta(hours=3 * i) for i in range(7 * 8)]
    today = now.astimezone(PARIS).date()
    for offset in range(8):
        for hour in (8, 20):
            boundary = local(today + timedelta(days=offset), hour)
            if now <= boundary - timedelta(seconds=1) and boundary < now + timedelta(days=7):
                instants += [boundary - timedelta(seconds=1), boundary]
    with sessions() as s:
        sites = s.scalars(select(Site)).all()
        assert len(sites) == 6
        for at in instants:
            for site in sites:
                on_duty = on_duty_experts(s, site_id=site.id, modality="CT", at=at)
                assert len(on_duty) >= 4, f"{site.code} has {len(on_duty)} CT readers at {at}"


@pytest.mark.parametrize(
    ("today", "change_night", "night_hours"),
    [
        (date(2026, 3, 25), date(2026, 3, 28), 11),  # clocks go forward on 29 March 2026
        (date(2026, 10, 20), date(2026, 10, 24), 13),  # clocks go back on 25 October 2026
    ],
)
def test_shifts_keep_local_hours_across_daylight_saving_changes(
    sessions: SessionFactory, today: date, change_night: date, night_hours: int
) -> None:
    load(sessions, today)
    with sessions() as s:
        shifts = s.scalars(select(Shift)).all()
        for shift in shifts:
            start, end = shift.start.astimezone(PARIS), shift.end.astimezone(PARIS)
            assert (start.hour, start.minute, end.hour, end.minute) in (
                (8, 0, 20, 0),
                (20, 0, 8, 0),
            )
        nights = {
            shift.start.astimezone(PARIS).date(): shift.end - shift.start
            for shift in shifts
            if shift.start.astimezone(PARIS).hour == 20
        }
        assert nights[change_night] == timedelta(hours=night_hours)
        assert nights[change_night - timedelta(days=1)] == timedelta(hours=12)
        assert nights[change_night + timedelta(days=1)] == timedelta(hours=12)
        # Both sides of the change, the night starts at 20:00 on the wall clock.
        for day in (change_night - timedelta(days=1), change_night + timedelta(days=1)):
            start_utc = local(day, 20)
            assert any(shift.start == start_utc for shift in shifts)
        # And nobody's watch has a hole in it that night.
        site = s.scalars(select(Site)).first()
        assert site is not None
        at = local(change_night, 18)
        while at < local(change_night + timedelta(days=1), 10):
            assert len(on_duty_experts(s, site_id=site.id, modality="CT", at=at)) >= 4
            at += timedelta(minutes=15)


def test_demo_registry_is_well_formed(sessions: SessionFactory) -> None:
    load(sessions)
    with sessions() as s:
        experts = s.scalars(select(Expert)).all()
        sites = s.scalars(select(Site)).all()
        phones = [e.phone for e in experts]
        assert len(set(phones)) == len(EXPERTS) == 12
        assert all(normalise(p) == p and p.startswith("+336000000") for p in phones)
        assert all(len(e.sites) >= 2 and "CT" in e.modalities for e in experts)
        assert {s.code for s in sites} == {site.code for site in SITES}
        # Orders from a RIS and régulation can be tried: one site validates before the scan.
        assert {s.code for s in sites if s.regulation} == {"CH-LE-PUY"}
        assert {s.code: s.hl7_facility for s in sites if s.hl7_facility} == {
            "CH-LE-PUY": "CHLEPUY",
            "CH-AURILLAC": "CHAURILLAC",
        }
        for site in sites:
            assert site.timezone == "Europe/Paris"
            assert site.prices["CT"] == 9000 and "default" in site.prices
            assert normalise(site.phone) == site.phone and site.ae_titles
            # One version, the first, carries the whole contract: surcharges and the fee too.
            (tariff,) = site.tariffs
            assert (tariff.version, tariff.valid_from) == (1, ALWAYS)
            terms = tariff.terms()
            assert terms.surcharges == {
                Band.NIGHT: Surcharge(4000),
                Band.SUNDAY: Surcharge(2500),
                Band.HOLIDAY: Surcharge(2500),
                Band.STAT: Surcharge(1500),
            }
            assert not terms.cumulative and terms.expert_share_percent == 70
            assert terms.priced_at is PricedAt.ACCEPTANCE and terms.cancellation_cents == 2000


def test_every_demo_login_logs_in(sessions: SessionFactory) -> None:
    load(sessions)
    roles = set()
    with sessions() as s:
        for username, password, _what in DEMO_LOGINS:
            assert len(password) >= 8
            user = check_login(s, username, password)
            assert user is not None, username
            roles.add(user.role)
            if user.role == "site":
                assert user.site is not None
            if user.role == "expert":
                assert user.expert is not None
            # The demo region is French; an expert who takes English SMS reads English pages.
            expected = user.expert.language if user.expert else "fr"
            assert user.language == expected, username
    assert roles == {"admin", "coordinator", "site", "expert"}


def test_a_hand_made_shift_in_a_rotations_way_stops_the_command_cleanly(tmp_path: Path) -> None:
    """`garde demo-data` over a roster edited by hand where a demo rotation would put a shift:
    a one-line reason, exit 1, nothing changed (no traceback)."""
    url = f"sqlite:///{tmp_path / 'garde.db'}"
    env = {**os.environ, "GARDE_DATABASE_URL": url, "GARDE_DATA_DIR": str(tmp_path / "data")}
    first = subprocess.run([*GARDE, "demo-data"], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions.begin() as s:
        # The rotations' shifts are replaced by one made by hand, overlapping their slots.
        shift = s.scalars(select(Shift).where(Shift.rotation_id.is_not(None))).first()
        assert shift is not None
        s.execute(delete(Shift).where(Shift.expert_id == shift.expert_id))
        s.add(Shift(expert_id=shift.expert_id, start=shift.start, end=shift.end, tier="backup"))
    with sessions() as s:
        before = row_counts(s)
    again = subprocess.run([*GARDE, "demo-data"], env=env, capture_output=True, text=True)
    with sessions() as s:
        after = row_counts(s)
    engine.dispose()
    assert again.returncode == 1
    assert "the demo region was not loaded, nothing changed" in again.stderr
    assert "Traceback" not in again.stderr
    assert after == before


def test_demo_logins_are_marked_and_only_they(sessions: SessionFactory) -> None:
    """The marking the banner reads: every demo login, and a login made by hand is not one."""
    load(sessions)
    with sessions.begin() as s:
        assert not add_user(s, "real-admin", "a long and real passphrase", Role.ADMIN).demo
    with sessions() as s:
        marked = set(s.scalars(select(User.username).where(User.demo.is_(True))))
        assert demo_logins_exist(s)
    assert marked == {username for username, _, _ in DEMO_LOGINS}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_marks_the_demo_logins_an_earlier_garde_up_loaded(
    backend: str, tmp_path: Path
) -> None:
    """`garde up` loaded the demo into any empty database: after the upgrade, a demo login
    still opened by its published password shows the banner; one whose password was changed
    (or a real login named like one) does not."""
    urls = (
        iter([f"sqlite:///{tmp_path / 'garde.db'}"]) if backend == "sqlite" else postgres_database()
    )
    url = next(urls)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "0004")
    engine = make_engine(url)
    users = table(
        "users", column("username"), column("password_hash"), column("role"), column("created_at")
    )
    now = datetime.now(UTC)
    with engine.begin() as c:
        c.execute(
            users.insert(),
            [
                {
                    "username": "coordinator",
                    "password_hash": generate_password_hash(COORDINATOR_PASSWORD),
                    "role": "coordinator",
                    "created_at": now,
                },
                {
                    "username": "admin",
                    "password_hash": generate_password_hash("changed since, and long"),
                    "role": "admin",
                    "created_at": now,
                },
            ],
        )
    upgrade(url)
    with engine.connect() as c:
        marked = dict(c.execute(select(User.username, User.demo)).all())
    engine.dispose()
    assert marked == {"coordinator": True, "admin": False}
    next(urls, None)  # the PostgreSQL database is dropped


@pytest.fixture(params=["sqlite", "postgresql"])
def any_sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionFactory]:
    """A fresh database of each kind."""
    urls = (
        iter([f"sqlite:///{tmp_path / 'garde.db'}"])
        if request.param == "sqlite"
        else postgres_database()
    )
    url = next(urls)
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()
    next(urls, None)  # the PostgreSQL database is dropped


def month_reads(s: Session, month: str) -> list[Case]:
    return list(
        s.scalars(
            select(Case).where(Case.accession_number.like(f"DEMO-{month}-%")).order_by(Case.id)
        )
    )


def test_last_months_reads_are_closed_signed_and_billed_by_the_demo_tariff(
    any_sessions: SessionFactory,
) -> None:
    """October 2026 (its clocks go back on the 25th) as the demo leaves it on 15 November:
    forty closed reads, each with the workflow's timeline, a signed final report and a line
    priced by the tariff's first version, the night or the Sunday surcharge (never both)
    and stat on top. A later run in November adds no read; one in December adds November's,
    whose 11th is a public holiday."""
    load(any_sessions, date(2026, 11, 15))
    load(any_sessions, date(2026, 11, 20))
    with any_sessions() as s:
        cases = month_reads(s, "2026-10")
        assert len(cases) == READS
        assert cases[0].accession_number == "DEMO-2026-10-001"
        lines = {line.case_id: line for line in s.scalars(select(BillingLine))}
        assert len(lines) == READS
        bands = set()
        for case in cases:
            # Closed, its workflow long done: the reconciler starts none and restarts none.
            assert case.status == CaseStatus.FINAL and not CaseStatus(case.status).is_open
            assert case.workflow_started_at is not None
            assert case.accepted_at is not None and case.reported_at is not None
            assert case.requested_at < case.accepted_at < case.reported_at == case.closed_at
            assert case.reported_at.astimezone(PARIS).strftime("%Y-%m") == "2026-10"
            assert "(démo)" in case.clinical_question
            assert [(e.kind, e.status) for e in case.events] == [
                (EventKind.STATUS, status)
                for status in ("requested", "offered", "accepted", "final")
            ]
            assert [(o.status, o.expert_id) for o in case.offers] == [
                ("accepted", case.assigned_expert_id)
            ]
            (report,) = case.reports
            assert report.kind == ReportKind.FINAL and report.expert_id == case.assigned_expert_id
            assert verify_chain([(report, report.expert.code)]) == [True]
            line = lines[case.id]
            assert (line.kind, line.tariff_version, line.expert_id) == (
                "read",
                1,
                case.assigned_expert_id,
            )
            assert line.priced_at == case.accepted_at and line.read_at == case.reported_at
            base = PRICES[case.modality]
            expected = [("base", base)]
            if line.time_band != "day":
                expected.append((line.time_band, SURCHARGES[line.time_band]))
            if case.priority == "stat":
                expected.append(("stat", 1500))
            assert [(p["what"], p["cents"]) for p in line.parts] == expected
            assert line.amount_cents == sum(cents for _, cents in expected)
            assert line.expert_share_cents == line.amount_cents * 70 // 100
            bands.add(line.time_band)
        assert bands == {"day", "night", "sunday"}
        assert any(case.priority == "stat" for case in cases)

    load(any_sessions, date(2026, 12, 10))
    with any_sessions() as s:
        assert len(month_reads(s, "2026-10")) == READS
        november = month_reads(s, "2026-11")
        assert len(november) == READS
        holiday = [
            line
            for line in s.scalars(select(BillingLine).where(BillingLine.time_band == "holiday"))
        ]
        assert holiday
        for line in holiday:
            assert line.priced_at.astimezone(PARIS).date() in (
                date(2026, 11, 1),
                date(2026, 11, 11),
            )
            assert [p["what"] for p in line.parts if p["what"] != "stat"] == ["base", "holiday"]
