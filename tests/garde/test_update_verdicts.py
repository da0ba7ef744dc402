"""An update's fate is written once, on both databases: a worker admitting it and the web
giving up on it at the same instant, each in its own transaction, read the same verdict."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta

from garde.admission import admit, give_up
from garde.db import SessionFactory
from garde.domain import CaseStatus
from tests.garde.test_loading import add_site
from tests.rosters.test_eligibility import add_case

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def a_case(sessions: SessionFactory) -> int:
    with sessions.begin() as s:
        return add_case(s, add_site(s, titles=0), None, CaseStatus.OFFERED, None).id


def test_the_first_verdict_holds(sessions: SessionFactory) -> None:
    case_id = a_case(sessions)
    later = NOW + timedelta(seconds=15)
    taken, dropped, late = (secrets.token_hex(16) for _ in range(3))
    with sessions.begin() as s:
        assert admit(s, case_id, taken, later, NOW) is True
        assert give_up(s, case_id, dropped, NOW) is False
        assert admit(s, case_id, late, NOW, later) is False
    with sessions.begin() as s:
        # The web gives up on an update a worker admitted: it is being applied.
        assert give_up(s, case_id, taken, later) is True
        # A worker takes over one the first admitted, past its deadline: applied.
        assert admit(s, case_id, taken, NOW, later) is True
        # A worker takes one the web gave up on, in time: refused, as one found late.
        assert admit(s, case_id, dropped, later, NOW) is False
        assert admit(s, case_id, late, later, NOW) is False


def test_a_worker_and_the_web_at_the_same_instant_agree(sessions: SessionFactory) -> None:
    case_id = a_case(sessions)
    for _ in range(20):
        verdicts = race(sessions, case_id, secrets.token_hex(16))
        # Applied for the worker exactly when the web hears it was taken.
        assert verdicts["worker"] == verdicts["web"], verdicts


def race(sessions: SessionFactory, case_id: int, update_id: str) -> dict[str, bool]:
    """A worker admitting the update and the web giving up on it, released together."""
    verdicts: dict[str, bool] = {}
    start = threading.Barrier(2)

    def worker() -> None:
        start.wait()
        with sessions.begin() as s:
            verdicts["worker"] = admit(s, case_id, update_id, NOW + timedelta(1), NOW)

    def web() -> None:
        start.wait()
        with sessions.begin() as s:
            verdicts["web"] = give_up(s, case_id, update_id, NOW)

    threads = [threading.Thread(target=worker), threading.Thread(target=web)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return verdicts
