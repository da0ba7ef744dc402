"""Twilio webhooks: expert replies to offers, and delivery status of messages sent.

Replies become a signal to the case workflow, never an update: the webhook must answer
Twilio at once, even while no worker is running.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from flask import Blueprint, Response, g, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from garde.errors import Conflict, Forbidden, Unavailable
from garde.messages import SmsAnswer
from garde.models import Offer, SmsMessage, utcnow
from web import services

bp = Blueprint("sms", __name__, url_prefix="/sms")

# English and French, any case: YES|Y|OK|OUI|O CODE accepts, NO|N|NON CODE declines.
REPLY = re.compile(r"^\s*(YES|Y|OK|OUI|O|NO|N|NON)\s+([A-Z0-9]{4,8})\s*[.!]?\s*$", re.IGNORECASE)
ACCEPT = ("YES", "Y", "OK", "OUI", "O")
HELP = (
    "Garde: reply YES CODE (OUI CODE) to accept or NO CODE (NON CODE) to decline, with the "
    "code of the offer."
)


@dataclass(frozen=True)
class ParsedReply:
    accept: bool
    code: str


def parse_reply(body: str) -> ParsedReply | None:
    match = REPLY.match(body or "")
    if match is None:
        return None
    return ParsedReply(match.group(1).upper() in ACCEPT, match.group(2).upper())


def handle_reply(db: Session, from_number: str, to_number: str, body: str, sid: str) -> str | None:
    """Answer one incoming SMS; the text to send back, or None to stay silent.

    Honoured only from the phone the offer went to, only once per offer, and a repeated
    MessageSid (Twilio retrying) has no second effect. The answer is stored before it is
    signalled: if Temporal is away, the worker's reconciler delivers it later.
    """
    if _seen(db, sid):
        return None
    message = SmsMessage(
        direction="in",
        to_number=to_number,
        from_number=from_number,
        body=body[:1600],
        provider_sid=sid,
        status="received",
    )
    parsed = parse_reply(message.body)
    offer = db.scalar(select(Offer).where(Offer.code == parsed.code)) if parsed else None
    # A stranger's number learns nothing about whether the code exists.
    if (
        parsed is not None
        and offer is not None
        and offer.phone == from_number
        and db.scalar(select(SmsMessage.id).where(SmsMessage.offer_id == offer.id)) is None
    ):
        message.offer_id = offer.id
        message.answer = "accept" if parsed.accept else "decline"
    db.add(message)
    try:
        db.commit()
    except IntegrityError:  # the same MessageSid, or another answer to this offer, raced in
        db.rollback()
        if _seen(db, sid) or parsed is None:
            return None
        message.offer_id = message.answer = None
        db.add(message)  # kept, as every message is, but it answers nothing
        db.commit()
        return f"Garde: offer {parsed.code} was already answered."
    if parsed is None:
        return HELP
    if offer is None or offer.phone != from_number:
        return f"Garde: no offer {parsed.code} for this phone."
    if message.offer_id is None:
        return f"Garde: offer {parsed.code} was already answered."
    return _deliver(db, message, offer, parsed)


def _deliver(db: Session, message: SmsMessage, offer: Offer, parsed: ParsedReply) -> str:
    try:
        delivered = services().cases.sms_answer(
            offer.case_id, SmsAnswer(offer.id, offer.expert_id, parsed.accept)
        )
    except Unavailable:
        return "Garde: your answer is received; Garde will confirm it shortly."
    message.signalled_at = utcnow()
    db.commit()
    if not delivered:
        return f"Garde: case {offer.case_id} is closed."
    if parsed.accept:
        return f"Garde: thank you, confirming case {offer.case_id} for you."
    return f"Garde: offer {parsed.code} declined. Thank you."


def _seen(db: Session, sid: str) -> bool:
    return db.scalar(select(SmsMessage.id).where(SmsMessage.provider_sid == sid)) is not None


def _check_signature() -> None:
    settings = services().settings
    if not settings.twilio_auth_token:
        raise Forbidden("Twilio is not configured here; use the dev outbox")
    url = settings.public_url + request.path
    if request.query_string:
        url += "?" + request.query_string.decode()
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(settings.twilio_auth_token).validate(url, request.form, signature):
        raise Forbidden("the X-Twilio-Signature does not match")


@bp.post("/inbound")
def inbound() -> Response:
    _check_signature()
    reply = handle_reply(
        g.db,
        request.form.get("From", ""),
        request.form.get("To", ""),
        request.form.get("Body", ""),
        request.form.get("MessageSid", ""),
    )
    twiml = MessagingResponse()
    if reply:
        twiml.message(reply)
    return Response(str(twiml), mimetype="application/xml")


@bp.post("/status")
def status() -> Response:
    _check_signature()
    sid = request.form.get("MessageSid", "")
    message = g.db.scalar(select(SmsMessage).where(SmsMessage.provider_sid == sid))
    reported = (request.form.get("MessageStatus") or "")[:16]
    if message is not None and _progress(reported) > _progress(message.status):
        message.status = reported
        g.db.commit()
        if message.status in UNDELIVERED:
            _offer_undeliverable(message)
    return Response(str(MessagingResponse()), mimetype="application/xml")


# Twilio's final statuses of a message that did not reach the phone.
UNDELIVERED = ("undelivered", "failed")
# How far along a message is: callbacks come out of order, and only progress is recorded.
_PROGRESS = {"accepted": 1, "scheduled": 1, "queued": 1, "sending": 2, "sent": 3}
_FINAL = 4  # delivered, undelivered, failed, canceled, read


def _progress(status: str) -> int:
    if status in ("delivered", "undelivered", "failed", "canceled", "read"):
        return _FINAL
    return _PROGRESS.get(status, 0)


def _offer_undeliverable(message: SmsMessage) -> None:
    """An offer that never reached the phone: the case moves on to the next expert at once."""
    key = message.idempotency_key or ""
    if not key.startswith("offer:"):
        return
    offer = g.db.get(Offer, int(key.removeprefix("offer:")))
    if offer is None:
        return
    # When the case is over, or Temporal away, the offer simply times out as usual.
    with contextlib.suppress(Conflict, Unavailable):
        services().cases.offer_undeliverable(offer.case_id, offer.id)
