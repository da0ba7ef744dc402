"""Shifts: who is on call when, at which tier."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.domain import Tier
from garde.models import Expert, Shift
from garde.validation import Fields

MAX_SHIFT = timedelta(hours=48)


def create_shift(session: Session, data: Any) -> Shift:
    f = Fields(data)
    expert_code = f.text("expert", max_len=32)
    start = f.instant("start")
    end = f.instant("end")
    tier = f.choice("tier", Tier) or Tier.PRIMARY
    expert = None
    if expert_code:
        expert = session.scalar(select(Expert).where(Expert.code == expert_code))
        if expert is None:
            f.fail("expert", f"no expert has the code {expert_code}")
    if start and end:
        if end <= start:
            f.fail("end", "must be after start")
        elif end - start > MAX_SHIFT:
            f.fail("end", "a shift lasts at most 48 hours")
    f.check()
    assert expert is not None and start is not None and end is not None
    shift = Shift(expert_id=expert.id, start=start, end=end, tier=tier)
    session.add(shift)
    session.flush()
    return shift
