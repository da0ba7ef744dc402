"""Upgrading with cases in flight (issue 10): a database of Garde 0.1 (revision 0001) with
cases open is migrated to the newest revision and keeps every row, each new column with the
value its migration promises; today's worker, in a Temporal namespace that never knew those
cases (0.1's workflows do not replay: README, *Upgrading*), takes every open case up where
its record stands once asked (`garde resume-cases`), and one of them is read to the end.
The cases then outlive another `garde db upgrade` and a worker restart."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import func, select

from garde.db import MIGRATIONS, make_engine, make_session_factory, upgrade
from garde.models import (
    ApiToken,
    Case,
    Expert,
    Offer,
    Site,
    SiteAeTitle,
    User,
    UTCDateTime,
)
from tests.conftest import GARDE, Stack, postgres_database, start_stack, wait_for

ALICE_PHONE, BRUNO_PHONE = "+33612000001", "+33612000002"
# Tables of revision 0001, each row of which must still be there after the upgrade.
TABLES = (
    "sites",
    "experts",
    "expert_sites",
    "shifts",
    "users",
    "api_tokens",
    "cases",
    "case_events",
    "offers",
    "sms_messages",
    "reports",
    "billing_lines",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at revision 0001, as Garde 0.1 left it."""
    if request.param == "sqlite":
        yield at_first_revision(f"sqlite:///{tmp_path / 'garde.db'}")
    else:
        for url in postgres_database():
            yield at_first_revision(url)


def at_first_revision(url: str) -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "0001")
    return url


def test_cases_open_in_garde_0_1_are_resumed_by_todays_worker(
    old_database: str, temporal_address: str, tmp_path: Path
) -> None:
    old = Old(old_database)
    before = old.counts()
    upgrade(old_database)
    assert old.counts() == before
    check_new_columns(old_database, old)
    # One record as a later Garde leaves it, many writes on, its Temporal set up afresh: the
    # workflow started again writes after them, or its writes would be refused as older.
    engine = make_engine(old_database)
    with engine.begin() as c:
        c.execute(
            sa.update(sa.table("cases", sa.column("id"), sa.column("status_seq")))
            .where(sa.column("id") == old.accepted)
            .values(status_seq=7)
        )
    engine.dispose()

    backend = "sqlite" if old_database.startswith("sqlite") else "postgresql"
    with contextlib.contextmanager(start_stack)(
        tmp_path, old_database, temporal_address, f"garde-upgrade-{backend}", twilio=True
    ) as stack:
        # The worker starts no workflow by itself (README, Upgrading): it is asked, once.
        assert garde(stack, "resume-cases") == "4 case(s) started again"
        assert garde(stack, "resume-cases") == "0 case(s) started again"
        # Where each record stood, the workflow stands: the held cases keep their holder,
        # the others go to the ladder again, their offers numbered after 0.1's.
        for case_id in (old.accepted, old.preliminary):
            case, view = stack.agreed(case_id, timeout=60)
            assert view.holder == case.assigned_expert_id == old.alice
        assert stack.agreed(old.accepted)[0].status_seq > 7
        assert stack.agreed(old.accepted)[0].status == "accepted"
        assert stack.agreed(old.preliminary)[0].status == "preliminary"
        code = new_offer_code(stack, old.offered, after=2)
        new_offer_code(stack, old.requested, after=0)
        assert stack.agreed(old.offered)[0].status == "offered"
        with stack.sessions() as s:
            # No workflow knows bruno's offer of 0.1 any more: it is not left open.
            statuses = s.scalars(
                select(Offer.status).where(Offer.case_id == old.offered).order_by(Offer.sequence)
            ).all()
            assert statuses[:2] == ["expired", "expired"]

        # The offered case is read to the end: alice answers the SMS, then reports.
        reply = stack.sms_reply(ALICE_PHONE, f"OUI {code}")
        assert reply.status_code == 200, reply.text
        wait_for(lambda: stack.agreed(old.offered)[1].holder == old.alice, 60, "acceptance")
        alice = stack.api(old.alice_token)
        for case_id in (old.offered, old.accepted):
            r = alice.post(
                f"/api/v1/cases/{case_id}/report",
                json={"kind": "final", "findings": "No bleed.", "impression": "Normal CT."},
            )
            assert r.status_code == 201, r.text
            wait_for(lambda c=case_id: stack.agreed(c)[0].status == "final", 60, "final")
        assert alice.get(f"/api/v1/cases/{old.offered}").json()["report"]

        # Another upgrade (at the head: nothing to do) and a worker restart: the case that
        # was waiting for alice's answer still is, and takes it.
        stack.stop("worker")
        assert garde(stack, "db", "upgrade") == "database is up to date"
        stack.start("worker")
        # Once the worker is back (it answers the case's query): the web waits 10 s for a
        # worker to take an action, which a worker still starting on a busy machine missed.
        stack.agreed(old.requested, timeout=60)
        r = alice.post(f"/api/v1/cases/{old.requested}/accept")
        assert r.status_code == 200, r.text
        assert stack.agreed(old.requested, timeout=60)[0].status == "accepted"
        with stack.sessions() as s:
            assert s.get_one(Case, old.finished).status == "final"


def garde(stack: Stack, *args: str) -> str:
    """What a `garde` command run as an IT team would run it prints; it must succeed."""
    done = subprocess.run(
        [*GARDE, *args], env=stack.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def new_offer_code(stack: Stack, case_id: int, after: int) -> str:
    """The code of the offer today's workflow made for a case of 0.1, sent to alice by SMS."""

    def made() -> Offer | None:
        with stack.sessions() as s:
            return s.scalar(select(Offer).where(Offer.case_id == case_id, Offer.sequence > after))

    offer = wait_for(made, 60, f"a new offer for case {case_id}")
    assert offer.phone == ALICE_PHONE and offer.status == "open"
    assert stack.twilio is not None
    wait_for(
        lambda: any(offer.code in m.body for m in stack.twilio.to(ALICE_PHONE)),  # type: ignore[union-attr]
        30,
        "the offer SMS",
    )
    return offer.code


def check_new_columns(url: str, old: Old) -> None:
    """What each migration gave the rows of 0.1."""
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        site = s.scalars(select(Site)).one()
        assert (site.language, site.study_quiet_s, site.service_levels) == ("fr", 30, {})
        assert s.scalars(select(SiteAeTitle.ae_title)).all() == ["CHAURILLAC_CT"]
        for expert in s.scalars(select(Expert)):
            assert (expert.language, expert.timezone, expert.sms_enabled) == (
                "fr",
                "Europe/Paris",
                True,
            )
        for user in s.scalars(select(User)):
            assert (user.session_epoch, user.disabled_at, user.demo) == (0, None, False)
        for token in s.scalars(select(ApiToken)):
            assert token.revoked_at is None and token.expires_at > old.now + timedelta(days=89)
        for case in s.scalars(select(Case)):
            # The promise of design.md for an urgent case, and its ladder, on every case.
            assert (case.offer_timeout_s, case.accept_within_s, case.report_within_s) == (
                300,
                1200,
                3600,
            )
            assert case.escalation == ["primary", "backup", "broadcast", "coordinator"]
            assert case.status_seq == 0 and case.workflow_started_at == old.requested_at
            assert case.clinical_question == "Fall on anticoagulants, rule out bleed"
        statuses = {c.id: (c.status, c.assigned_expert_id) for c in s.scalars(select(Case))}
        assert statuses == {
            old.requested: ("requested", None),
            old.offered: ("offered", None),
            old.accepted: ("accepted", old.alice),
            old.preliminary: ("preliminary", old.alice),
            old.finished: ("final", old.alice),
        }
        assert {(o.step, o.round) for o in s.scalars(select(Offer))} == {("primary", 1)}
    engine.dispose()


class Old:
    """The rows Garde 0.1 wrote for a region at night, in revision 0001's shape: a site, its
    two experts on duty, logins with API tokens, and five cases: requested, offered (alice
    did not answer, bruno is asked), accepted and preliminary (alice holds them), final."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.requested_at = self.now - timedelta(minutes=3)
        self.alice_token = "gt_alice-of-garde-0.1"
        engine = make_engine(url)
        with engine.begin() as c:
            self._write(c)
        engine.dispose()

    def counts(self) -> dict[str, int]:
        engine = make_engine(self.url)
        with engine.connect() as c:
            counts = {
                t: c.scalar(select(func.count()).select_from(sa.table(t))) or 0 for t in TABLES
            }
        engine.dispose()
        return counts

    def _write(self, c: sa.Connection) -> None:
        site = add(
            c,
            "sites",
            code="CH-AURILLAC",
            name="CH Aurillac",
            timezone="Europe/Paris",
            ae_titles=["CHAURILLAC_CT"],
            phone="+33471000000",
            prices={"CT": 9000, "MR": 12000},
            expert_share_percent=70,
            currency="EUR",
            created_at=self.now - timedelta(days=30),
        )
        self.alice, bruno = (
            add(
                c,
                "experts",
                code=code,
                name=name,
                phone=phone,
                subspecialties=["neuro"],
                modalities=["CT", "MR"],
                max_concurrent=5,
                active=True,
                created_at=self.now - timedelta(days=30),
            )
            for code, name, phone in (
                ("DR-ALICE", "Dr Alice", ALICE_PHONE),
                ("DR-BRUNO", "Dr Bruno", BRUNO_PHONE),
            )
        )
        for expert, tier in ((self.alice, "primary"), (bruno, "backup")):
            add(c, "expert_sites", expert_id=expert, site_id=site)
            add(
                c,
                "shifts",
                expert_id=expert,
                start=self.now - timedelta(hours=1),
                end=self.now + timedelta(hours=11),
                tier=tier,
                created_at=self.now - timedelta(days=1),
            )
        for username, role, token, links in (
            ("alice", "expert", self.alice_token, {"expert_id": self.alice}),
            ("urgences-aurillac", "site", "gt_site-of-garde-0.1", {"site_id": site}),
            ("coordination", "coordinator", "gt_coordinator-of-garde-0.1", {}),
        ):
            user = add(
                c,
                "users",
                username=username,
                password_hash="scrypt:32768:8:1$unused",
                role=role,
                created_at=self.now - timedelta(days=30),
                **links,
            )
            add(
                c,
                "api_tokens",
                user_id=user,
                token_hash=hashlib.sha256(token.encode()).hexdigest(),
                created_at=self.now - timedelta(days=30),
            )
        self.requested = self._case(c, site, "requested")
        self.offered = self._case(c, site, "offered")
        self._offer(c, self.offered, self.alice, 1, "expired")
        self._offer(c, self.offered, bruno, 2, "open")
        self.accepted = self._case(c, site, "accepted", held=True)
        self._offer(c, self.accepted, self.alice, 1, "accepted")
        self.preliminary = self._case(c, site, "preliminary", held=True)
        self._offer(c, self.preliminary, self.alice, 1, "accepted")
        self._report(c, self.preliminary, "preliminary")
        self.finished = self._case(c, site, "final", held=True)
        self._offer(c, self.finished, self.alice, 1, "accepted")
        self._report(c, self.finished, "final")
        add(
            c,
            "billing_lines",
            case_id=self.finished,
            site_id=site,
            expert_id=self.alice,
            modality="CT",
            priority="urgent",
            time_band="night",
            amount_cents=9000,
            expert_share_cents=6300,
            currency="EUR",
            read_at=self.now - timedelta(minutes=1),
        )

    def _case(self, c: sa.Connection, site: int, status: str, held: bool = False) -> int:
        case = add(
            c,
            "cases",
            site_id=site,
            accession_number=f"ACC-01-{status.upper()}",
            study_instance_uid=None,
            modality="CT",
            body_part="HEAD",
            study_description="CT head without contrast",
            priority="urgent",
            clinical_question="Fall on anticoagulants, rule out bleed",
            requesting_physician="Dr Urgences",
            callback_phone="+33471000000",
            subspecialty=None,
            status=status,
            assigned_expert_id=self.alice if held else None,
            requested_at=self.requested_at,
            accepted_at=self.requested_at + timedelta(minutes=1) if held else None,
            reported_at=self.now - timedelta(minutes=1) if status == "final" else None,
            closed_at=self.now - timedelta(minutes=1) if status == "final" else None,
        )
        add(
            c,
            "case_events",
            case_id=case,
            key=f"case-{case}:requested",
            at=self.requested_at,
            kind="status",
            status="requested",
            expert_id=None,
            detail="",
        )
        return case

    def _offer(self, c: sa.Connection, case: int, expert: int, sequence: int, status: str) -> None:
        sent = self.requested_at + timedelta(seconds=10 * sequence)
        offer = add(
            c,
            "offers",
            case_id=case,
            expert_id=expert,
            sequence=sequence,
            code=f"Q{case}{sequence}XZ",
            phone=ALICE_PHONE if expert == self.alice else BRUNO_PHONE,
            status=status,
            sent_at=sent,
            expires_at=sent + timedelta(minutes=5),
            answered_at=sent + timedelta(seconds=30) if status == "accepted" else None,
        )
        add(
            c,
            "sms_messages",
            direction="out",
            to_number=ALICE_PHONE if expert == self.alice else BRUNO_PHONE,
            from_number="+33700000000",
            body=f"Garde: CT urgent. Reply YES Q{case}{sequence}XZ",
            idempotency_key=f"offer-{offer}",
            provider_sid=f"SM0{offer}",
            status="sent",
            offer_id=offer,
            created_at=sent,
        )

    def _report(self, c: sa.Connection, case: int, kind: str) -> None:
        add(
            c,
            "reports",
            case_id=case,
            expert_id=self.alice,
            request_key=f"case-{case}:{kind}",
            kind=kind,
            findings="No bleed.",
            impression="Normal CT.",
            critical=False,
            created_at=self.now - timedelta(minutes=1),
        )


def add(c: sa.Connection, table: str, **values: Any) -> int:
    """Insert one row into a table as revision 0001 has it; its id (0 for a link table)."""
    columns = [sa.column(name, _type(value)) for name, value in values.items()]
    if table == "expert_sites":
        c.execute(sa.insert(sa.table(table, *columns)).values(**values))
        return 0
    rows = sa.table(table, sa.column("id", sa.Integer), *columns)
    return int(c.execute(sa.insert(rows).values(**values).returning(rows.c.id)).scalar_one())


def _type(value: Any) -> Any:
    if isinstance(value, datetime):
        return UTCDateTime(timezone=True)
    if isinstance(value, dict | list):
        return sa.JSON()
    if isinstance(value, bool):
        return sa.Boolean()
    return None
