"""A case's message log for its coordinators: every SMS about the case, out and in, and every
call placed for it, with the person at the other end named rather than numbered.

Outbound messages carry the case; an expert's reply is tied to it through the offer it
answered. Bodies are for coordinators and admins only: the page that shows them is theirs.
Kinds and statuses stay the stored values here; the page says them in the reader's words
(web/display.py `word`), and names each person's role in them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from garde.domain import Role
from garde.models import Case, Coordinator, Expert, Offer, Site, SmsMessage, VoiceCall
from web.display import word

SHOWN = 200


@dataclass(frozen=True)
class LoggedMessage:
    at: datetime
    direction: str  # "out" or "in"
    kind: str  # the text's kind (offer, yours, alert_unassigned...), or answer_accept...
    who: str  # "Dr Martin (expert)", "the site (call back)", or the number if nobody has it
    status: str  # Twilio's (queued, delivered, undelivered...), or outbox, sending, received
    error_code: str | None
    segments: int | None
    body: str


@dataclass(frozen=True)
class LoggedCall:
    at: datetime
    callee: str
    status: str
    digits: str | None


def case_messages(db: Session, case: Case) -> list[LoggedMessage]:
    """The case's SMS, oldest first (the SHOWN newest at most)."""
    answers = select(Offer.id).where(Offer.case_id == case.id)
    rows = db.scalars(
        select(SmsMessage)
        .where(or_(SmsMessage.case_id == case.id, SmsMessage.offer_id.in_(answers)))
        .order_by(SmsMessage.created_at.desc(), SmsMessage.id.desc())
        .limit(SHOWN)
    ).all()
    names = _names(db, case, {_other_end(m) for m in rows})
    return [
        LoggedMessage(
            at=m.created_at,
            direction=m.direction,
            kind=_kind(m),
            who=names.get(_other_end(m), _other_end(m)),
            status=m.status,
            error_code=m.error_code,
            segments=m.segments,
            body=m.body,
        )
        for m in reversed(rows)
    ]


def case_calls(db: Session, case: Case) -> list[LoggedCall]:
    calls = db.scalars(
        select(VoiceCall)
        .where(VoiceCall.case_id == case.id)
        .order_by(VoiceCall.created_at, VoiceCall.id)
    ).all()
    return [LoggedCall(c.created_at, callee(db, c), c.status, c.digits) for c in calls]


def callee(db: Session, call: VoiceCall) -> str:
    """Who was called, by name and role: an expert, a coordinator, or a site (about a report
    it has not acknowledged); the number only if the call names nobody."""
    if call.expert is not None:
        return _with_role(call.expert.name, Role.EXPERT)
    if call.coordinator is not None:
        return _with_role(call.coordinator.name, Role.COORDINATOR)
    if call.site_id is not None:
        return _with_role(db.get_one(Site, call.site_id).name, Role.SITE)
    return call.to_number


def _with_role(name: str, role: Role) -> str:
    return f"{name} ({word(role, 'role')})"


def _other_end(message: SmsMessage) -> str:
    return message.to_number if message.direction == "out" else message.from_number


def _kind(message: SmsMessage) -> str:
    """The kind of text sent, or of the answer received (`answer_accept`, `answer`)."""
    if message.kind:
        return message.kind
    if message.direction == "in":
        return f"answer_{message.answer}" if message.answer else "answer"
    return "message"


def _names(db: Session, case: Case, numbers: set[str]) -> dict[str, str]:
    """Who has each number now: an expert, a coordinator, a site, or the case's caller."""
    names = {case.callback_phone: gettext("%(site)s (call back)", site=case.site.name)}
    return names | phone_owners(db, numbers)


def phone_owners(db: Session, numbers: set[str]) -> dict[str, str]:
    """Who has each of these numbers now, by name and role; an expert before a coordinator
    before a site when two share a number (the one an answer is taken from)."""
    names: dict[str, str] = {}
    for site in db.scalars(select(Site).where(Site.phone.in_(numbers))):
        names[site.phone] = _with_role(site.name, Role.SITE)
    for coordinator in db.scalars(select(Coordinator).where(Coordinator.phone.in_(numbers))):
        names[coordinator.phone] = _with_role(coordinator.name, Role.COORDINATOR)
    for expert in db.scalars(select(Expert).where(Expert.phone.in_(numbers))):
        names[expert.phone] = _with_role(expert.name, Role.EXPERT)
    return names
