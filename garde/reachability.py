"""Whether SMS reach a person's phone: Twilio refusing it for good (or the person texting
STOP) stops Garde texting it until a START, a new number, or (for a refusal) a test message
that goes through.

Experts and coordinators are found by phone: the refusal is about the number, whoever has it.
Routing reads the flag through `Expert.textable`; alerts skip a flagged coordinator.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from garde.models import Coordinator, Expert

STOPPED = "stop"  # sms_unreachable_reason after a STOP
# The reasons only a START lifts: a STOP, and Twilio refusing the phone for it (error 21610,
# recorded by activities/sms.py). A number Twilio refused for another reason is lifted by a
# message that goes through (a test message) or by a new number.
OPTED_OUT = (STOPPED, "twilio 21610")


def mark_unreachable(s: Session, phone: str, reason: str, at: datetime) -> None:
    """Nobody with this phone is texted any more; the first refusal's time and reason stay."""
    for person in (Expert, Coordinator):
        s.execute(
            update(person)
            .where(person.phone == phone, person.sms_unreachable_since.is_(None))
            .values(sms_unreachable_since=at, sms_unreachable_reason=reason[:64])
        )


def mark_reachable(s: Session, phone: str) -> None:
    """A message just went through to this phone: a refusal of the past no longer holds.
    An opt-out still does: the person said STOP, and only their START lifts it."""
    for person in (Expert, Coordinator):
        s.execute(
            update(person)
            .where(
                person.phone == phone,
                person.sms_unreachable_since.is_not(None),
                person.sms_unreachable_reason.not_in(OPTED_OUT),
            )
            .values(sms_unreachable_since=None, sms_unreachable_reason="")
        )
