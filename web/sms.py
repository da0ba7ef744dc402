"""Twilio webhooks: expert replies to offers, and delivery status of messages sent.

Replies become a signal to the case workflow, never an update: the webhook must answer
Twilio at once, even while no worker is running.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Blueprint, Response, g, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from garde.errors import Conflict, Forbidden
from garde.messages import SmsAnswer
from garde.models import Offer, SmsMessage
from web import services

bp = Blueprint("sms", __name__, url_prefix="/sms")

REPLY = re.compile(r"^\s*(YES|Y|OK|NO|N)\s+([A-Z0-9]{4,8})\s*[.!]?\s*$", re.IGNORECASE)
HELP = "Garde: reply YES CODE to accept or NO CODE to decline, with the code of the offer."


@dataclass(frozen=True)
class ParsedReply:
    accept: bool
    code: str


def parse_reply(body: str) -> ParsedReply | None:
    match = REPLY.match(body or "")
    if match is None:
        return None
    return ParsedReply(match.group(1).upper() in ("YES", "Y", "OK"), match.group(2).upper())


def handle_reply(db: Session, from_number: str, to_number: str, body: str, sid: str) -> str | None:
    """Answer one incoming SMS; the text to send back, or None to stay silent.

    Honoured only from the phone the offer went to, only once per offer, and a repeated
    MessageSid (Twilio retrying) has no second effect.
    """
    if db.scalar(select(SmsMessage.id).where(SmsMessage.provider_sid == sid)) is not None:
        return None
    message = SmsMessage(
        direction="in",
        to_number=to_number,
        from_number=from_number,
        body=body[:1600],
        provider_sid=sid,
        status="received",
    )
    reply = _answer(db, message)
    db.add(message)
    try:
        db.commit()
    except IntegrityError:  # the same MessageSid raced in: the workflow ignores repeats
        db.rollback()
    return reply


def _answer(db: Session, message: SmsMessage) -> str:
    parsed = parse_reply(message.body)
    if parsed is None:
        return HELP
    offer = db.scalar(select(Offer).where(Offer.code == parsed.code))
    # A stranger's number learns nothing about whether the code exists.
    if offer is None or offer.phone != message.from_number:
        return f"Garde: no offer {parsed.code} for this phone."
    answered = db.scalar(select(SmsMessage.id).where(SmsMessage.offer_id == offer.id))
    if answered is not None:
        return f"Garde: offer {parsed.code} was already answered."
    message.offer_id = offer.id
    try:
        services().cases.sms_answer(
            offer.case_id, SmsAnswer(offer.id, offer.expert_id, parsed.accept)
        )
    except Conflict:
        return f"Garde: case {offer.case_id} is closed."
    if parsed.accept:
        return f"Garde: thank you, confirming case {offer.case_id} for you."
    return f"Garde: offer {parsed.code} declined. Thank you."


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
    if message is not None:
        message.status = (request.form.get("MessageStatus") or message.status)[:16]
        g.db.commit()
    return Response(str(MessagingResponse()), mimetype="application/xml")
