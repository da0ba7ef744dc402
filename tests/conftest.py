"""Fixtures that start the real pieces on loopback, once per session.

- a Temporal dev server (the `temporal` binary from the venv), one namespace per stack;
- the application database: SQLite, and PostgreSQL when reachable (skipped otherwise, unless
  GARDE_REQUIRE_POSTGRES=1 as in CI, where a missing server fails the run);
- a Twilio-compatible HTTP double that the real `twilio` client talks to;
- `garde worker` and `garde web` as subprocesses, exactly as deployed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from twilio.request_validator import RequestValidator
from werkzeug.security import generate_password_hash

from garde.accounts import create_token
from garde.db import SessionFactory, make_engine, make_session_factory, upgrade
from garde.domain import Role
from garde.messages import CaseView
from garde.models import Case, Expert, ReportAcknowledgement, Site, User
from garde.settings import Settings
from garde.temporal import (
    acknowledgement_workflow_id,
    case_workflow_id,
    connect,
    start_dev_server,
    venv_binary,
    wait_for_port,
)
from tests.phones import mobile
from tests.twilio_double import TwilioDouble

T = TypeVar("T")
PASSWORD = "correct horse battery"
GARDE = [sys.executable, "-m", "garde.cli"]
# The reply code in an offer SMS, in either language.
OFFER_CODE = re.compile(r"(?:Reply YES|Répondez OUI) (\w+)")
NAMESPACES = (
    "garde-sqlite",
    "garde-postgresql",
    "garde-outbox",
    "garde-scale",
    "garde-upgrade-sqlite",
    "garde-upgrade-postgresql",
)
UI_ORIGIN = "http://127.0.0.1:8233"
POSTGRES_URL = os.environ.get(
    "GARDE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def on_sqlite_only(database_url: str, why: str) -> None:
    """A long test of what the kind of database changes nothing in runs once, on SQLite: the
    suite keeps to its time."""
    if not database_url.startswith("sqlite"):
        pytest.skip(f"the same on SQLite ({why})")


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port free now and given once in this run, below the kernel's ephemeral range:
    a port the kernel picked (bind to 0) was taken, before the server under test bound it, as the
    source port of another test's connection (a CI run's "GARDE_HL7_PORT is in use"). Each xdist
    worker draws from its own two thousand."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    first = 20_000 + 2_000 * (worker % 6)
    for port in random.sample(range(first, first + 2_000), 2_000):
        if port in _PORTS_GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port
    raise RuntimeError(f"no free loopback port left in {first}..{first + 1_999}")


def _thread_stacks(pid: int) -> str:
    """The Python stacks of every thread of process PID, by py-spy (a dev dependency)."""
    try:
        dumped = subprocess.run(
            [venv_binary("py-spy"), "dump", "--pid", str(pid)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"(py-spy could not read them: {e})"
    return dumped.stdout + dumped.stderr


def wait_for(probe: Callable[[], T], timeout: float = 30, what: str = "condition") -> T:
    """Poll until `probe()` is truthy; its value. Fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    server = start_dev_server(
        tmp_path_factory.mktemp("temporal"), port=port, namespaces=NAMESPACES, persist=False
    )
    yield f"127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=20)


def postgres_database() -> Iterator[str]:
    name = "garde_test_" + secrets.token_hex(4)
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as e:
        reason = f"PostgreSQL not reachable at {POSTGRES_URL} ({type(e).__name__})"
        if os.environ.get("GARDE_REQUIRE_POSTGRES"):
            pytest.fail(reason + " and GARDE_REQUIRE_POSTGRES is set")
        pytest.skip(reason + "; set GARDE_TEST_POSTGRES_URL to test on PostgreSQL")
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'garde.db'}"
    else:
        yield from postgres_database()


@pytest.fixture(scope="module")
def sessions(database_url: str) -> Iterator[SessionFactory]:
    """The test database, migrated, for tests that read and write it directly."""
    upgrade(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@dataclass
class Stack:
    """The whole system on loopback: web, worker, database, Temporal, Twilio double."""

    url: str
    env: dict[str, str]
    sessions: SessionFactory
    twilio: TwilioDouble | None
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, command: str = "", env: dict[str, str] | None = None) -> None:
        """Run `garde COMMAND` (NAME when not given) as NAME, with `env` over the stack's: a
        second web app is `start("web-2", "web", {"GARDE_WEB_PORT": ...})`."""
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            [*GARDE, command or name],
            env=self.env | (env or {}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self, name: str, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL) NAME and wait for it. One still there 30 s after SIGTERM is
        killed, and the test fails with the stacks of its threads, taken just before."""
        process = self.processes.pop(name)
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stacks = _thread_stacks(process.pid)
            process.kill()
            process.wait(timeout=10)
            raise AssertionError(
                f"{name} was still running 30 s after SIGTERM; its threads then:\n{stacks}"
            ) from None

    async def client(self) -> Client:
        """A Temporal client as the stack's own: it reads and sends payloads encrypted with the
        stack's keys (garde/payload_codec.py)."""
        return await connect(Settings.from_env(self.env))

    def view(self, case_id: int) -> CaseView:
        """What the case's workflow holds true now (its `view` query)."""

        async def query() -> CaseView:
            handle = (await self.client()).get_workflow_handle(case_workflow_id(case_id))
            view: CaseView = await handle.query(
                "view", result_type=CaseView, rpc_timeout=timedelta(seconds=10)
            )
            return view

        return asyncio.run(query())

    def agreed(self, case_id: int, timeout: float = 30) -> tuple[Case, CaseView]:
        """The record and the workflow, once the record has caught up with the workflow (and a
        worker answers: one just started may take a while under load)."""

        def caught_up() -> tuple[Case, CaseView] | None:
            try:
                view = self.view(case_id)
            except RPCError as e:
                # A worker just started: the server has seen no poller yet, or it has not answered.
                waiting = (
                    RPCStatusCode.FAILED_PRECONDITION,
                    RPCStatusCode.DEADLINE_EXCEEDED,
                    RPCStatusCode.CANCELLED,
                )
                if e.status not in waiting:
                    raise
                return None
            with self.sessions() as s:
                case = s.get_one(Case, case_id)
            return (case, view) if case.status_seq == view.seq else None

        return wait_for(caught_up, timeout, f"the record of case {case_id} to catch up")

    def api(self, token: str) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        return _BaseUrlSession.wrap(session, self.url)

    def sms_reply(
        self, from_: str, body: str, sid: str | None = None, signature: str | None = None
    ) -> requests.Response:
        """What Twilio posts when an expert answers, signed like Twilio signs it."""
        assert self.twilio is not None
        params = {
            "MessageSid": sid or "SM" + secrets.token_hex(16),
            "AccountSid": self.twilio.account_sid,
            "From": from_,
            "To": self.env["TWILIO_FROM_NUMBER"],
            "Body": body,
            "NumMedia": "0",
        }
        url = self.env["GARDE_PUBLIC_URL"] + "/sms/inbound"
        if signature is None:
            signature = RequestValidator(self.twilio.auth_token).compute_signature(url, params)
        return requests.post(
            self.url + "/sms/inbound",
            data=params,
            headers={"X-Twilio-Signature": signature},
            timeout=30,
        )


class _BaseUrlSession(requests.Session):
    base_url = ""

    @classmethod
    def wrap(cls, session: requests.Session, base_url: str) -> requests.Session:
        session.__class__ = cls
        session.base_url = base_url  # type: ignore[attr-defined]
        return session

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kw: Any) -> Any:  # type: ignore[override]
        kw.setdefault("timeout", 60)
        return super().request(method, f"{self.base_url}{url!s}", *args, **kw)


def start_stack(
    tmp: Path,
    database_url: str,
    temporal_address: str,
    namespace: str,
    twilio: bool,
    extra_env: dict[str, str] | None = None,
    processes: tuple[str, ...] = ("worker", "web"),
) -> Iterator[Stack]:
    port = free_port()
    env = {
        **os.environ,
        # The reconciler looks every 2 s instead of every minute: tests need not wait.
        "GARDE_RECONCILE_EVERY_S": "2",
        # A daily check crossing a test run would text coordinators the tests count on.
        "GARDE_COVERAGE_CHECK_HOUR": "off",
        # As under `garde up`: the outbox opens to staff when Twilio is unset.
        "GARDE_DEV_OUTBOX": "1",
        # Every answer of the API is checked against its description (web/api/describe.py).
        "GARDE_CHECK_API_ANSWERS": "1",
        # What Prometheus would send to read /metrics.
        "GARDE_METRICS_TOKEN": "metrics-" + secrets.token_hex(8),
        # The Temporal UI's page, let call the codec endpoint (web/codec_server.py).
        "GARDE_TEMPORAL_UI_ORIGIN": UI_ORIGIN,
        # The web app's own address, unless a test puts it behind a (pretend) proxy.
        "GARDE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **(extra_env or {}),
        "GARDE_DATA_DIR": str(tmp / "data"),
        "GARDE_DATABASE_URL": database_url,
        "GARDE_TEMPORAL_ADDRESS": temporal_address,
        "GARDE_TEMPORAL_NAMESPACE": namespace,
        "GARDE_WEB_HOST": "127.0.0.1",
        "GARDE_WEB_PORT": str(port),
    }
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"):
        env.pop(name, None)
    double = None
    if twilio:
        double = TwilioDouble("AC" + secrets.token_hex(16), secrets.token_hex(16)).start()
        env |= {
            "TWILIO_ACCOUNT_SID": double.account_sid,
            "TWILIO_AUTH_TOKEN": double.auth_token,
            "TWILIO_FROM_NUMBER": "+33700000000",
            "GARDE_TWILIO_API_URL": double.url,
        }
    upgrade(database_url)
    engine = make_engine(database_url)
    stack = Stack(
        url=f"http://127.0.0.1:{port}",
        env=env,
        sessions=make_session_factory(engine),
        twilio=double,
        logs=tmp,
    )
    try:
        for name in processes:
            stack.start(name)
        wait_for_port("127.0.0.1", port, stack.processes["web"])
        yield stack
    finally:  # a web app that never came up leaves no worker behind either
        for name in list(stack.processes):
            # A process slow to stop at the session's end is said, with its stacks, in the
            # run's warnings: the tests that stop one on purpose fail on it.
            try:
                stack.stop(name)
            except AssertionError as e:
                warnings.warn(str(e), stacklevel=1)
        engine.dispose()
        if double is not None:
            double.stop()


@pytest.fixture(scope="session")
def stack(
    database_url: str, temporal_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    yield from start_stack(
        tmp_path_factory.mktemp(f"stack-{backend}"),
        database_url,
        temporal_address,
        f"garde-{backend}",
        twilio=True,
    )


@pytest.fixture(scope="session")
def outbox_stack(
    temporal_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A stack with Twilio unset: SMS go to the dev outbox, as on a developer's machine."""
    tmp = tmp_path_factory.mktemp("stack-outbox")
    yield from start_stack(
        tmp, f"sqlite:///{tmp / 'garde.db'}", temporal_address, "garde-outbox", twilio=False
    )


@dataclass
class ExpertLogin:
    code: str
    phone: str
    username: str
    password: str
    token: str
    id: int = 0


# The acknowledgement workflows a region's clean-up ended, by stack: never asked twice.
_ENDED: set[tuple[str, int, int]] = set()


@dataclass
class Region:
    """A fresh site with its own experts, so each test is alone on its rosters."""

    stack: Stack
    site: str
    site_token: str
    site_username: str
    coordinator_token: str
    admin_token: str
    experts: dict[str, ExpertLogin]
    password: str = PASSWORD

    def submit(self, **overrides: Any) -> dict[str, Any]:
        response = self.stack.api(self.site_token).post(
            "/api/v1/cases", json=case_request(**overrides)
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def cancel_open_cases(self) -> None:
        """After the test: a case left open would climb its ladder, round after round, for the
        rest of the session, and wake at every roster change, on the stack every later test
        shares. Every open case of the stack goes, those of regions a test made by hand too."""
        with self.stack.sessions() as s:
            left = s.scalars(
                select(Case.id).where(
                    Case.status.in_(
                        ("to_validate", "validated", "requested", "offered", "accepted")
                    ),
                    Case.workflow_started_at.is_not(None),
                )
            ).all()
        api = self.stack.api(self.coordinator_token)
        for case_id in left:
            # Refused if it moved on meanwhile, or the web is down after the test: fine.
            with contextlib.suppress(requests.RequestException):
                api.post(f"/api/v1/cases/{case_id}/cancel", timeout=10)
        self.stop_waiting_for_acknowledgements()

    def stop_waiting_for_acknowledgements(self) -> None:
        """A critical finding nobody acknowledged would text the site for a quarter of an
        hour, then every coordinator of the stack: later tests count those texts. Each is
        ended once (its row stays unacknowledged): asking again at every later test's end
        would cost each a Temporal connection and a call per finding ever left."""
        with self.stack.sessions() as s:
            waiting = s.execute(
                select(ReportAcknowledgement.case_id, ReportAcknowledgement.report_id).where(
                    ReportAcknowledgement.acknowledged_at.is_(None)
                )
            ).all()
        fresh = [(c, r) for c, r in waiting if (self.stack.url, c, r) not in _ENDED]
        if not fresh:
            return

        async def terminate() -> None:
            client = await self.stack.client()
            for case_id, report_id in fresh:
                handle = client.get_workflow_handle(acknowledgement_workflow_id(case_id, report_id))
                with contextlib.suppress(RPCError):  # ended meanwhile
                    await handle.terminate("the test is over")

        # A thread of its own: a test may be running an event loop (Playwright's).
        with ThreadPoolExecutor(max_workers=1) as thread:
            thread.submit(asyncio.run, terminate()).result()
        _ENDED.update((self.stack.url, *w) for w in fresh)

    def case(self, case_id: int) -> dict[str, Any]:
        response = self.stack.api(self.coordinator_token).get(f"/api/v1/cases/{case_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_status(self, case_id: int, status: str, timeout: float = 30) -> dict[str, Any]:
        return wait_for(
            lambda: (c := self.case(case_id))["status"] == status and c,
            timeout,
            f"case {case_id} to be {status}",
        )

    def offer_sms(self, expert: str, timeout: float = 30) -> str:
        """The reply code of the newest offer SMS sent to this expert."""
        assert self.stack.twilio is not None
        phone = self.experts[expert].phone
        message = wait_for(
            lambda: (
                [m for m in self.stack.twilio.to(phone) if OFFER_CODE.search(m.body)]  # type: ignore[union-attr]
                or None
            ),
            timeout,
            f"an offer SMS to {expert}",
        )[-1]
        return OFFER_CODE.findall(message.body)[0]


@functools.cache
def _password_hash() -> str:
    """Hashed once: a real scrypt hash takes a sixth of a second, six times per region."""
    return generate_password_hash(PASSWORD)


def add_login(
    s: Session,
    username: str,
    role: Role,
    site_code: str | None = None,
    expert_code: str | None = None,
) -> User:
    """A login with the test password, stored as `garde user add` stores it."""
    user = User(
        username=username,
        password_hash=_password_hash(),
        role=role,
        site_id=s.scalar(select(Site.id).where(Site.code == site_code)) if site_code else None,
        expert_id=(
            s.scalar(select(Expert.id).where(Expert.code == expert_code)) if expert_code else None
        ),
    )
    s.add(user)
    s.flush()
    return user


def case_request(**overrides: Any) -> dict[str, Any]:
    request = {
        "accession_number": "ACC-" + secrets.token_hex(4),
        "modality": "CT",
        "body_part": "HEAD",
        "study_description": "CT head without contrast",
        "priority": "urgent",
        "clinical_question": "Fall on anticoagulants, rule out intracranial bleed",
        "requesting_physician": "Dr Urgences",
        "callback_phone": "+33471000000",
    }
    request.update(overrides)
    return {k: v for k, v in request.items() if v is not None}


@pytest.fixture
def region(stack: Stack) -> Iterator[Region]:
    made = make_region(stack)
    yield made
    made.cancel_open_cases()


@pytest.fixture(scope="module")
def shared_region(stack: Stack) -> Region:
    """One region for a module's tests that change nothing in it (refusals, logins): a
    region's logins and rosters cost a second or two to make."""
    return make_region(stack)


def make_region(
    stack: Stack,
    on_duty: tuple[str, ...] = ("alice", "bruno", "chloe"),
    max_concurrent: int = 3,
) -> Region:
    """Site + experts: alice (primary), bruno (backup) credentialed; chloe on duty elsewhere.

    The tag is four random bytes: with three, two of a run's thousand regions once drew the same
    one (a CI run's duplicate username)."""
    tag = secrets.token_hex(4).upper()
    password = PASSWORD
    with stack.sessions.begin() as s:
        admin = add_login(s, f"admin-{tag}", Role.ADMIN)
        coordinator = add_login(s, f"coord-{tag}", Role.COORDINATOR)
        admin_token = create_token(s, admin)
        coordinator_token = create_token(s, coordinator)
    api = stack.api(admin_token)
    site = f"SITE-{tag}"
    other = f"ELSEWHERE-{tag}"
    for code in (site, other):
        r = api.post(
            "/api/v1/sites",
            json={
                "code": code,
                "name": f"CH {code}",
                "timezone": "Europe/Paris",
                "ae_titles": [code.replace("ELSEWHERE", "ELSE")],
                "prices": {"CT": 9000, "MR": 12000},
            },
        )
        assert r.status_code == 201, r.text
    now = datetime.now(UTC)
    experts: dict[str, ExpertLogin] = {}
    for name, sites, tier in (
        ("alice", [site], "primary"),
        ("bruno", [site], "backup"),
        ("chloe", [other], "primary"),
    ):
        code = f"DR-{name.upper()}-{tag}"
        phone = mobile()
        r = api.post(
            "/api/v1/experts",
            json={
                "code": code,
                "name": f"Dr {name.title()}",
                "phone": phone,
                "modalities": ["CT", "MR"],
                "subspecialties": ["neuro"],
                "sites": sites,
                "max_concurrent": max_concurrent,
            },
        )
        assert r.status_code == 201, r.text
        if name in on_duty:
            r = api.post(
                "/api/v1/shifts",
                json={
                    "expert": code,
                    "start": (now - timedelta(hours=1)).isoformat(),
                    "end": (now + timedelta(hours=11)).isoformat(),
                    "tier": tier,
                },
            )
            assert r.status_code == 201, r.text
        with stack.sessions.begin() as s:
            user = add_login(s, f"{name}-{tag}", Role.EXPERT, expert_code=code)
            experts[name] = ExpertLogin(
                code, phone, user.username, password, create_token(s, user), user.expert_id or 0
            )
    with stack.sessions.begin() as s:
        site_user = add_login(s, f"site-{tag}", Role.SITE, site_code=site)
        site_token = create_token(s, site_user)
    return Region(
        stack, site, site_token, site_user.username, coordinator_token, admin_token, experts
    )
