"""Answering one incoming SMS: an expert's answer to an offer, STATUS, HELP, STOP and START;
a site acknowledging a critical finding from its case's callback phone ("OK 123").

Every message is stored before anything is done with it; an answer becomes a signal to the
case workflow, never an update, so that Twilio is answered at once even while no worker
runs (the reconciler delivers what Temporal did not take). Replies are in the sender's
language. A number that is no expert's or coordinator's learns nothing about offers and,
after a few messages an hour, gets no reply at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio.service import RPCError

from activities.alerts import coordinators_to_text
from garde.acknowledgements import cases_waiting
from garde.domain import HELD_STATUSES, AlertKind, OfferStatus
from garde.errors import Conflict, Unavailable
from garde.messages import Acknowledgement, PersonText, SmsAnswer
from garde.models import Alert, Case, Coordinator, Expert, Offer, SmsMessage, utcnow
from garde.reachability import OPTED_OUT, STOPPED, mark_unreachable, opt_in
from garde.temporal import start_texting
from garde.texts import render
from web import services
from web.case_actions import SERVER_WAIT
from web.sms_grammar import Acknowledging, Answer, Keyword, parse, parse_acknowledgement

log = logging.getLogger(__name__)

# Replies to a number Garde does not know, per hour; then silence (no reply costs nothing
# and tells nothing to whoever tries codes from it).
STRANGER_REPLIES_PER_HOUR = 3


@dataclass(frozen=True)
class Inbound:
    """Twilio's form fields that Garde reads."""

    sid: str
    from_number: str
    to_number: str
    body: str


@dataclass(frozen=True)
class Sender:
    """An expert or coordinator, found by the phone a message came from (an expert first:
    a coordinator who also reads answers offers like any expert)."""

    phone: str
    person: Expert | Coordinator

    @property
    def expert(self) -> Expert | None:
        return self.person if isinstance(self.person, Expert) else None

    @property
    def language(self) -> str:
        return self.person.language

    @property
    def tag(self) -> str:
        """Names the person in alert keys: `expert-12`, `coordinator-3`."""
        return f"{'expert' if self.expert else 'coordinator'}-{self.person.id}"


def handle(db: Session, inbound: Inbound) -> str | None:
    """The text to send back, or None to stay silent (a repeated MessageSid is silent and
    does nothing: Twilio retrying)."""
    if _seen(db, inbound.sid):
        return None
    message = SmsMessage(
        direction="in",
        to_number=inbound.to_number[:20],
        from_number=inbound.from_number[:20],
        body=inbound.body[:1600],
        provider_sid=inbound.sid[:64],
        status="received",
    )
    acknowledging = parse_acknowledgement(message.body)
    if acknowledging is not None:
        handled, reply = _acknowledge(db, message, acknowledging)
        if handled:
            return reply
    said = parse(message.body)
    sender = _sender(db, inbound.from_number)
    if sender is None:
        return _stranger(db, message, said)
    if isinstance(said, Answer):
        return _answer(db, message, sender, said)
    if said is Keyword.STOP:
        if _store(db, message):
            _stop(db, sender, message)
        return None  # Twilio confirms the STOP itself, and delivers nothing after it
    if said is Keyword.START:
        if _store(db, message):
            _start(db, sender)
        return None  # Twilio confirms the START itself
    if not _store(db, message):
        return None
    if said is Keyword.STATUS:
        return _status(db, sender)
    if said is Keyword.HELP:
        return render("reply_help", sender.language)
    return render("reply_not_understood", sender.language)


def _answer(db: Session, message: SmsMessage, sender: Sender, said: Answer) -> str | None:
    """YES or NO: honoured only from the phone the offer was sent to, and once per offer (a
    unique offer_id on the stored message settles a YES and a NO arriving together)."""
    language = sender.language
    if said.opts_in:
        _start(db, sender)
    if said.code is None:
        offers = _open_offers(db, sender.phone)
        if len(offers) != 1:
            if not _store(db, message):
                return None
            if not offers:
                return render("reply_no_open_offer", language)
            return render("reply_several_offers", language, codes=[o.code for o in offers])
        offer: Offer | None = offers[0]
    else:
        offer = db.scalar(select(Offer).where(Offer.code == said.code))
    if offer is None or offer.phone != sender.phone:
        # The same words whether the code exists for another phone or not at all.
        if not _store(db, message):
            return None
        return render("reply_no_offer", language, code=said.code)
    still_open = offer.status == OfferStatus.OPEN  # read now: the answer may soon close it
    if db.scalar(select(SmsMessage.id).where(SmsMessage.offer_id == offer.id)) is None:
        message.offer_id = offer.id
        message.answer = "accept" if said.accept else "decline"
    message.reason = said.reason or None
    if not _store(db, message):
        return None
    if message.offer_id is None:
        return render("reply_already_answered", language, code=offer.code)
    return _deliver(db, message, offer, said, language, still_open)


def _deliver(
    db: Session, message: SmsMessage, offer: Offer, said: Answer, language: str, still_open: bool
) -> str:
    answer = SmsAnswer(offer.id, offer.expert_id, said.accept, said.reason)
    try:
        delivered = services().cases.sms_answer(offer.case_id, answer)
    except Unavailable:  # stored: the worker's reconciler delivers it when Temporal is back
        return render("reply_received", language)
    message.signalled_at = utcnow()
    db.commit()
    if not delivered:
        return render("reply_case_closed", language, case=offer.case_id)
    if said.accept and not still_open:
        # Timed out or withdrawn: the workflow gives the case only if it is still free and the
        # expert still eligible, and texts which it was.
        return render("reply_late", language, code=offer.code, case=offer.case_id)
    if said.accept:
        return render("reply_accepted", language, case=offer.case_id)
    return render("reply_declined", language, code=offer.code)


def _acknowledge(
    db: Session, message: SmsMessage, acknowledging: Acknowledging
) -> tuple[bool, str | None]:
    """From the callback phone of a case that waits for an acknowledgement (or of the case
    named), the site acknowledges it: (True, the reply). (False, None): the message is not
    a site's acknowledgement, and is read as any other (a stranger's phone learns nothing)."""
    phone = message.from_number
    waiting = cases_waiting(db, phone)
    case_id = acknowledging.case_id
    if case_id is None:
        if not waiting:
            return False, None
        if len(waiting) > 1:
            language = db.get_one(Case, waiting[0]).site.language
            return True, _stored(db, message, render("reply_which_case", language, cases=waiting))
        case_id = waiting[0]
    case = db.scalar(select(Case).where(Case.id == case_id, Case.callback_phone == phone))
    if case is None:
        return False, None
    language = case.site.language
    nothing = render("reply_nothing_to_acknowledge", language, case=case.id)
    message.case_id = case.id
    if case.id not in waiting:
        return True, _stored(db, message, nothing)
    if not _store(db, message):
        return True, None
    try:
        services().cases.acknowledge(db, case.id, Acknowledgement(phone, "sms"))
    except Conflict:  # acknowledged meanwhile, another way
        return True, nothing
    except Unavailable:
        return True, render("reply_ack_not_recorded", language)
    message.signalled_at = utcnow()
    db.commit()
    return True, render("reply_acknowledged", language, case=case.id)


def _stored(db: Session, message: SmsMessage, reply: str) -> str | None:
    """The reply, once the message is kept (None: Twilio's retry of one already here)."""
    return reply if _store(db, message) else None


def _stranger(db: Session, message: SmsMessage, said: Answer | Keyword | None) -> str | None:
    """The same reply whatever was sent, a few times an hour, then silence."""
    if not _store(db, message) or said in (Keyword.STOP, Keyword.START):
        return None
    recent = db.scalar(
        select(func.count())
        .select_from(SmsMessage)
        .where(
            SmsMessage.direction == "in",
            SmsMessage.from_number == message.from_number,
            SmsMessage.created_at >= utcnow() - timedelta(hours=1),
        )
    )
    if (recent or 0) > STRANGER_REPLIES_PER_HOUR:
        return None
    return render("reply_unknown_number", None)


def _status(db: Session, sender: Sender) -> str:
    """Open offers and held cases, named by code, number, site, modality: no patient data."""
    now = utcnow()
    offers = [
        {
            "code": o.code,
            "priority": o.case.priority,
            "modality": o.case.modality,
            "site": o.case.site.code,
            "minutes": max(1, round((o.expires_at - now).total_seconds() / 60)),
        }
        for o in _open_offers(db, sender.phone)
    ]
    held = (
        db.scalars(
            select(Case)
            .where(Case.assigned_expert_id == sender.expert.id, Case.status.in_(HELD_STATUSES))
            .order_by(Case.id)
        ).all()
        if sender.expert is not None
        else []
    )
    cases = [{"number": c.id, "modality": c.modality, "site": c.site.code} for c in held]
    return render("reply_status", sender.language, offers=offers, cases=cases)


def _stop(db: Session, sender: Sender, message: SmsMessage) -> None:
    """Twilio delivers nothing more to the phone: Garde stops offering by SMS to it, shows
    the coordinators an alert on their board and texts them."""
    now = utcnow()
    already = sender.person.sms_unreachable_reason in OPTED_OUT
    mark_unreachable(db, sender.phone, STOPPED, now)
    if already:
        db.commit()
        return
    key = f"sms-stop:{sender.tag}:{message.id}"
    whose = "The phone" if sender.expert else f"Coordinator {sender.person.name}'s phone"
    db.add(
        Alert(
            key=key,
            kind=AlertKind.UNREACHABLE,
            expert_id=sender.expert.id if sender.expert else None,
            raised_at=now,
            detail=f"{whose} replied STOP: no SMS reaches it until it sends START.",
        )
    )
    tell = [
        PersonText(
            key=f"{key}:to:{coordinator_id}",
            kind="alert_sms_stopped",
            coordinator_id=coordinator_id,
            params={"name": sender.person.name},
        )
        for coordinator_id in coordinators_to_text(db)
    ]
    db.commit()
    try:
        services().temporal.run(lambda c: start_texting(c, key, tell), timeout=SERVER_WAIT)
    except (Unavailable, RPCError):
        # Temporal away: the STOP is stored and the board shows the alert, but the
        # coordinators are not texted about it (nothing retries this text).
        log.warning("coordinators not texted about %s: Temporal unavailable", key)


def _start(db: Session, sender: Sender) -> None:
    """Twilio delivers again: the opt-out is lifted (a number Twilio refused otherwise stays
    unreachable), and the board's STOP alert is resolved."""
    opt_in(db, sender.phone)
    db.execute(
        update(Alert)
        .where(
            Alert.key.like(f"sms-stop:{sender.tag}:%"),
            Alert.resolved_at.is_(None),
        )
        .values(resolved_at=utcnow(), resolved_by="START")
    )
    db.commit()


def _open_offers(db: Session, phone: str) -> list[Offer]:
    return list(
        db.scalars(
            select(Offer)
            .where(
                Offer.phone == phone,
                Offer.status == OfferStatus.OPEN,
                Offer.expires_at > utcnow(),
            )
            .order_by(Offer.expires_at, Offer.id)
        )
    )


def _sender(db: Session, phone: str) -> Sender | None:
    person = db.scalar(select(Expert).where(Expert.phone == phone)) or db.scalar(
        select(Coordinator).where(Coordinator.phone == phone).order_by(Coordinator.id).limit(1)
    )
    return Sender(phone, person) if person is not None else None


def _store(db: Session, message: SmsMessage) -> bool:
    """Keep the message, as every message is kept; False when it is Twilio's retry of one
    already here. An answer that lost the race for its offer is kept answering nothing."""
    for _attempt in range(2):
        db.add(message)
        try:
            db.commit()
            return True
        except IntegrityError:
            db.rollback()
            if _seen(db, message.provider_sid or ""):
                return False
            message.offer_id = message.answer = None
    return False


def _seen(db: Session, sid: str) -> bool:
    return db.scalar(select(SmsMessage.id).where(SmsMessage.provider_sid == sid)) is not None
