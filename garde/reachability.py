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

Person = Expert | Coordinator

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
    _lift(s, phone, opt_out=False)


def opt_in(s: Session, phone: str) -> None:
    """START: Twilio delivers to this phone again, so the opt-out is lifted; a number Twilio
    refused for another reason stays unreachable."""
    _lift(s, phone, opt_out=True)


def person_to_text(s: Session, expert_id: int | None, coordinator_id: int | None) -> Person:
    """The expert or the coordinator a message or a call is for (exactly one id is given)."""
    if expert_id is not None:
        return s.get_one(Expert, expert_id)
    return s.get_one(Coordinator, coordinator_id)


def _lift(s: Session, phone: str, opt_out: bool) -> None:
    """Clear the flag of whoever has this phone, for an opt-out or for any other reason."""
    for person in (Expert, Coordinator):
        reason = person.sms_unreachable_reason
        s.execute(
            update(person)
            .where(
                person.phone == phone,
                person.sms_unreachable_since.is_not(None),
                reason.in_(OPTED_OUT) if opt_out else reason.not_in(OPTED_OUT),
            )
            .values(sms_unreachable_since=None, sms_unreachable_reason="")
        )
