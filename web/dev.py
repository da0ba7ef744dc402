"""The dev SMS outbox: with Twilio unset, read the messages Garde sent and answer as a phone.

A developer tool: it exists only while Twilio is not configured, and answers only the local
machine or a logged-in user, since a reply here accepts offers in an expert's name.
"""

from __future__ import annotations

import ipaddress
import secrets

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.exceptions import NotFound
from werkzeug.wrappers.response import Response

from activities.sms import OUTBOX_NUMBER
from garde.errors import Unavailable
from garde.models import SmsMessage
from garde.validation import E164, Fields
from web import display, services
from web.sms import handle_reply

bp = Blueprint("dev", __name__, url_prefix="/dev")
display.install(bp)

MESSAGES_SHOWN = 200


@bp.before_request
def only_without_twilio() -> None:
    if services().settings.twilio_configured or not (_local() or g.get("user")):
        raise NotFound()


@bp.get("/outbox")
def outbox() -> str:
    messages = g.db.scalars(
        select(SmsMessage)
        .order_by(SmsMessage.created_at.desc(), SmsMessage.id.desc())
        .limit(MESSAGES_SHOWN)
    ).all()
    return render_template(
        "dev/outbox.html", messages=messages, outbox_number=OUTBOX_NUMBER, shown=MESSAGES_SHOWN
    )


@bp.post("/outbox/reply")
def reply() -> Response:
    f = Fields(request.form)
    from_number = f.text("from_number", max_len=20, pattern=E164)
    body = f.text("body", max_len=1600)
    if f.errors:
        flash("Not sent: " + "; ".join(f"{k} {v}" for k, v in f.errors.items()), "error")
        return redirect(url_for("dev.outbox"))
    try:
        answer = handle_reply(
            g.db, from_number, OUTBOX_NUMBER, body, sid="dev-" + secrets.token_hex(8)
        )
    except Unavailable as e:
        g.db.rollback()
        flash(f"Not delivered: {e.message}", "error")
        return redirect(url_for("dev.outbox"))
    flash(f"Garde answered {from_number}: {answer}" if answer else "Garde stayed silent.", "info")
    return redirect(url_for("dev.outbox"))


def _local() -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
