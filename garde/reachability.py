"""Whether SMS reach a person's phone: Twilio refusing it for good (or the person texting
STOP) stops Garde texting it until a START or a new number.

Experts and coordinators are found by phone: the refusal is about the number, whoever has it.
Routing reads the flag through `Expert.textable`; alerts skip a flagged coordinator.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from garde.models import Coordinator, Expert


def mark_unreachable(s: Session, phone: str, reason: str, at: datetime) -> None:
    """Nobody with this phone is texted any more; the first refusal's time and reason stay."""
    for person in (Expert, Coordinator):
        s.execute(
            update(person)
            .where(person.phone == phone, person.sms_unreachable_since.is_(None))
            .values(sms_unreachable_since=at, sms_unreachable_reason=reason[:64])
        )
