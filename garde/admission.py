"""An action sent to a case's workflow, decided once: applied or not.

The web sends an action (accept, report, release...) as a Temporal update and waits a bounded
time for a worker to take it; then it answers the user. Two clocks cannot make that answer
true: a worker stalled past the wait, or one taking over from a worker that died, would judge
by its own. So the database decides, once, by whoever writes the update's row first:

- the worker, in the first transaction of the update's handler (`admit`): admitted when in
  time by the update's `not_after`, which stands for a web that died before giving up;
- the web, when it stops waiting (`give_up`): not admitted.

The other reads the verdict. A worker never applies an update the web said failed; a worker
taking over from one that died after admitting an update finds it admitted and goes on, so
the writes the first one made are completed, not left behind a refusal.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.db import insert_for
from garde.models import CaseUpdate


def admit(s: Session, case_id: int, update_id: str, not_after: datetime, now: datetime) -> bool:
    """True when the update is to be applied: admitted now (in time) or before (by a worker
    that died since). In the caller's transaction, which must commit for the verdict to hold."""
    return _decide(s, case_id, update_id, now, admitted=now <= not_after)


def give_up(s: Session, case_id: int, update_id: str, now: datetime) -> bool:
    """The web stops waiting: False when the update will never be applied, True when a
    worker admitted it first (it is being applied)."""
    return _decide(s, case_id, update_id, now, admitted=False)


def _decide(s: Session, case_id: int, update_id: str, now: datetime, admitted: bool) -> bool:
    """Write the verdict unless one is there (the row's key settles a race), and read it."""
    row = {"update_id": update_id, "case_id": case_id, "admitted": admitted, "decided_at": now}
    s.execute(insert_for(s, CaseUpdate).values(row).on_conflict_do_nothing())
    verdict = s.scalar(select(CaseUpdate.admitted).where(CaseUpdate.update_id == update_id))
    return bool(verdict)
