"""Twilio webhooks: messages experts and coordinators send (web/sms_inbound.py), and the
delivery status of messages sent. Both are believed only when signed by Twilio.
"""

from __future__ import annotations

import contextlib

from flask import Blueprint, Response, g, request
from sqlalchemy import select
from twilio.twiml.messaging_response import MessagingResponse

from garde.errors import Conflict, Unavailable
from garde.models import Offer, SmsMessage
from garde.validation import CONTROL
from web import services
from web.sms_inbound import Inbound, handle
from web.twilio_signature import check_twilio_signature

bp = Blueprint("sms", __name__, url_prefix="/sms")


@bp.post("/inbound")
def inbound() -> Response:
    check_twilio_signature()
    reply = handle(
        g.db,
        Inbound(
            sid=request.form.get("MessageSid", ""),
            from_number=request.form.get("From", ""),
            to_number=request.form.get("To", ""),
            # Stored before anything else: a control character (PostgreSQL refuses NUL)
            # must not lose the expert's answer, so it is dropped rather than refused.
            body=CONTROL.sub("", request.form.get("Body", "")),
        ),
    )
    twiml = MessagingResponse()
    if reply:
        twiml.message(reply)
    return Response(str(twiml), mimetype="application/xml")


@bp.post("/status")
def status() -> Response:
    check_twilio_signature()
    sid = request.form.get("MessageSid", "")
    message = g.db.scalar(select(SmsMessage).where(SmsMessage.provider_sid == sid))
    reported = (request.form.get("MessageStatus") or "")[:16]
    if message is not None and _progress(reported) > _progress(message.status):
        message.status = reported
        message.error_code = (request.form.get("ErrorCode") or "")[:16] or message.error_code
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
