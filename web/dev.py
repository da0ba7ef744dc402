"""The dev outbox: with Twilio unset, read the messages Garde sent and answer as a phone, and
press a key on the calls it placed.

A developer tool: it exists only while Twilio is not configured and `GARDE_DEV_OUTBOX` is on
(`garde up` turns it on), and only for coordinators and admins, since a reply here accepts
offers in an expert's name. Where a request comes from proves nothing: behind a reverse
proxy every request looks local.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Annotated

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.exceptions import NotFound
from werkzeug.wrappers.response import Response

from activities.sms import OUTBOX_NUMBER, Sms
from garde import phones
from garde.domain import STAFF, Role
from garde.errors import InvalidInput, Unavailable
from garde.models import Case, Offer, Site, SmsMessage, VoiceCall
from garde.validation import Input, phone, text, validated
from web import display, services
from web.access import current_user
from web.live_events import live_page
from web.message_log import callee, phone_owners
from web.reasons import translated
from web.sms_inbound import Inbound, handle
from web.voice import KEYS, press

bp = Blueprint("dev", __name__, url_prefix="/dev")
display.install(bp)

MESSAGES_SHOWN = 200
CALLS_SHOWN = 50


@bp.before_request
def only_for_staff_in_development() -> None:
    """Not there at all (404) unless open; then the login page first, and 404 to experts
    and sites, as if it did not exist."""
    if not services().settings.dev_outbox_open:
        raise NotFound()
    if Role(current_user().role) not in STAFF:
        raise NotFound()


@bp.get("/outbox")
@live_page
def outbox() -> str:
    messages = g.db.scalars(
        select(SmsMessage)
        .order_by(SmsMessage.created_at.desc(), SmsMessage.id.desc())
        .limit(MESSAGES_SHOWN)
    ).all()
    calls = g.db.scalars(
        select(VoiceCall)
        .order_by(VoiceCall.created_at.desc(), VoiceCall.id.desc())
        .limit(CALLS_SHOWN)
    ).all()
    return render_template(
        "dev/outbox.html",
        messages=messages,
        calls=calls,
        names=_names(messages),
        callees={c.id: callee(g.db, c) for c in calls},
        tz=services().settings.region_timezone,
        outbox_number=OUTBOX_NUMBER,
        shown=MESSAGES_SHOWN,
    )


def _names(messages: Sequence[SmsMessage]) -> dict[str, str]:
    """Who is at the other end of each message: a person, a site, or a case's caller."""
    numbers = {m.to_number if m.direction == "out" else m.from_number for m in messages}
    case_ids = {m.case_id for m in messages if m.case_id is not None}
    callers = g.db.execute(
        select(Case.callback_phone, Site.name).join(Site).where(Case.id.in_(case_ids))
    )
    return {phone: f"{site} (call back)" for phone, site in callers} | phone_owners(g.db, numbers)


@bp.post("/outbox/calls/<int:call_id>/press")
def press_key(call_id: int) -> Response:
    """Answer a call as its callee, pressing 1 or 2: what /voice/gather does, unsigned. A
    site's call knows 1 only: on another key Twilio would say its question again."""
    call = g.db.get(VoiceCall, call_id)
    if call is None:
        raise NotFound()
    digits = (request.form.get("digits") or "").strip()
    if digits not in KEYS:
        flash(_("Not pressed: digits must be 1 or 2"), "error")
        return redirect(url_for("dev.outbox"))
    said = press(g.db, call, digits)
    if said is None:
        flash(_("Not pressed: a site's call asks for 1 only, to acknowledge."), "error")
        return redirect(url_for("dev.outbox"))
    flash(_("Garde said to %(number)s: %(words)s", number=call.to_number, words=said), "info")
    return redirect(url_for("dev.outbox"))


def _case(sid: str) -> int | None:
    """The case an answer was about (through the offer it answered), for the message log."""
    return g.db.scalar(
        select(Offer.case_id)
        .join(SmsMessage, SmsMessage.offer_id == Offer.id)
        .where(SmsMessage.provider_sid == sid)
    )


class ReplyInput(Input):
    """An SMS answer typed on the outbox page, as if a phone had sent it."""

    from_number: Annotated[str, phone()]
    body: Annotated[str, text(1600)]


@bp.post("/outbox/reply")
def reply() -> Response:
    try:
        given = validated(ReplyInput, request.form, region=phones.REGION)
    except InvalidInput as e:
        reasons = "; ".join(f"{k} {v}" for k, v in e.fields.items())
        flash(_("Not sent: %(reasons)s", reasons=reasons), "error")
        return redirect(url_for("dev.outbox"))
    from_number, body = given.from_number, given.body
    sid = "dev-" + secrets.token_hex(8)
    try:
        answer = handle(g.db, Inbound(sid, from_number, OUTBOX_NUMBER, body))
    except Unavailable as e:
        g.db.rollback()
        flash(_("Not delivered: %(reason)s", reason=translated(e.message)), "error")
        return redirect(url_for("dev.outbox"))
    if answer:
        # Twilio would text it back from the webhook's answer: here it joins the conversation.
        services().sms.send(Sms(from_number, answer, f"reply:{sid}", "reply", None, _case(sid)))
    said = _("Garde answered %(number)s: %(words)s", number=from_number, words=answer)
    flash(said if answer else _("Garde stayed silent."), "info")
    return redirect(url_for("dev.outbox"))
