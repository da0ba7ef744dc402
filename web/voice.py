"""Twilio voice webhooks of a stat case's call ladder, and of the call to a site about a
finding it has not acknowledged: what the callee hears, the key they press, how it ended.

Each webhook is signed by Twilio and bound to its call: the form's `CallSid` must be the one
Twilio gave when the call was placed, or 403. A key is stored on the call, once, before it is
signalled to the case's workflow (the reconciler signals it later if Temporal is away); the
end of a call with no key pressed is signalled at once, so the next callee rings. On a site's
call, 1 acknowledges every version of the case that waits (via "voice"), told to their
workflows; its end is nobody's business (the acknowledgement ladder goes on by its clock).
"""

from __future__ import annotations

import contextlib

from flask import Blueprint, Response, g, request
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from garde.domain import CaseStatus
from garde.errors import Conflict, Forbidden, Unavailable
from garde.messages import Acknowledgement, CallEnded
from garde.models import Case, ReportAcknowledgement, VoiceCall, utcnow
from garde.reconciler import call_answer
from garde.texts import render
from web import services
from web.twilio_signature import check_twilio_signature

bp = Blueprint("voice", __name__, url_prefix="/voice")

# The voice Twilio speaks each language in.
SPOKEN = {"fr": "fr-FR", "en": "en-GB"}
KEYS = ("1", "2")
SITE_KEYS = ("1",)
# Twilio's final statuses of a call; with no key stored, each means "nobody answered".
ENDED = ("completed", "no-answer", "busy", "failed", "canceled")


@bp.post("/call/<int:call_id>")
def call(call_id: int) -> Response:
    """What the callee hears on picking up: the case (never the patient) and the keys."""
    return _twiml(prompt(_bound_call(call_id)))


@bp.post("/gather/<int:call_id>")
def gather(call_id: int) -> Response:
    row = _bound_call(call_id)
    said = press(g.db, row, request.form.get("Digits", ""))
    if said is None:  # another key: the prompt again
        again = prompt(row)
        which = "voice_press_1" if row.site_id is not None else "voice_press_1_or_2"
        again.say(render(which, row.language), language=SPOKEN[row.language])
        return _twiml(again)
    twiml = VoiceResponse()
    twiml.say(said, language=SPOKEN[row.language])
    return _twiml(twiml)


@bp.post("/status/<int:call_id>")
def status(call_id: int) -> Response:
    row = _bound_call(call_id)
    row.status = (request.form.get("CallStatus") or "")[:16]
    g.db.commit()
    if row.status in ENDED and row.digits is None and row.site_id is None:
        # When the case is over or Temporal away, the ladder's per-call timeout moves on.
        with contextlib.suppress(Conflict, Unavailable):
            services().cases.call_ended(row.case_id, CallEnded(row.id, row.status))
    return _twiml(VoiceResponse())


def prompt(row: VoiceCall) -> VoiceResponse:
    """Say the case in the callee's language and gather one key; a goodbye when none comes.
    The site by its name: a prompt is heard, not texted, and a code reads badly aloud."""
    case = g.db.get_one(Case, row.case_id)
    if row.site_id is not None:
        text = _site_prompt(case, row.language)
    else:
        kind = "voice_offer" if row.expert_id is not None else "voice_coordinator"
        text = render(
            kind,
            row.language,
            priority=case.priority,
            modality=case.modality,
            site=case.site.name,
            number=case.id,
            to_validate=case.status == CaseStatus.TO_VALIDATE,
        )
    spoken = SPOKEN[row.language]
    twiml = VoiceResponse()
    action = f"{services().settings.public_url}/voice/gather/{row.id}"
    asked = twiml.gather(num_digits=1, action=action, method="POST")
    asked.say(text, language=spoken)
    twiml.say(render("voice_goodbye", row.language), language=spoken)
    return twiml


def press(db: Session, row: VoiceCall, digits: str) -> str | None:
    """Act on a key pressed on this call (the webhook, or the dev outbox): stored once, then
    signalled. The words to say back; None when the key is neither 1 nor 2 (on a site's call,
    not 1)."""
    if digits not in (SITE_KEYS if row.site_id is not None else KEYS):
        return None
    stored = db.execute(
        update(VoiceCall)
        .where(VoiceCall.id == row.id, VoiceCall.digits.is_(None))
        .values(digits=digits, answered_at=utcnow())
    )
    db.commit()
    if stored.rowcount == 0:  # type: ignore[attr-defined]
        return render("voice_already_answered", row.language)
    db.refresh(row)
    if row.site_id is not None:
        return _site_acknowledges(db, row)
    try:
        services().cases.call_answered(row.case_id, call_answer(row))
    except Unavailable:
        pass  # stored: the reconciler signals it when Temporal is back
    else:
        row.signalled_at = utcnow()
        db.commit()
    coordinator = row.coordinator_id is not None
    return render("voice_answered", row.language, coordinator=coordinator, digits=digits)


def _site_prompt(case: Case, language: str) -> str:
    """What a site's phone hears: the case, and what waits (a version not yet acknowledged
    first; acknowledged meanwhile, the prompt still makes sense)."""
    asked = g.db.scalars(
        select(ReportAcknowledgement)
        .where(ReportAcknowledgement.case_id == case.id)
        .order_by(ReportAcknowledgement.acknowledged_at.is_not(None), ReportAcknowledgement.id)
        .limit(1)
    ).first()
    return render(
        "voice_site_ack",
        language,
        number=case.id,
        site=case.site.name,
        category=asked.category if asked else 1,
        reason=asked.reason if asked else "critical",
    )


def _site_acknowledges(db: Session, row: VoiceCall) -> str:
    """1 on a site's call: what waits is acknowledged by the phone called, via voice. When
    Temporal is away the key stays stored and the reconciler tells the workflows."""
    with contextlib.suppress(Conflict):  # acknowledged meanwhile another way
        try:
            services().cases.acknowledge(db, row.case_id, Acknowledgement(row.to_number, "voice"))
        except Unavailable:
            return render("voice_acknowledged", row.language)
    row.signalled_at = utcnow()
    db.commit()
    return render("voice_acknowledged", row.language)


def _bound_call(call_id: int) -> VoiceCall:
    """The call this webhook is about: signed by Twilio and naming that call's CallSid."""
    check_twilio_signature()
    row = g.db.get(VoiceCall, call_id)
    sid = request.form.get("CallSid", "")
    if row is None or not sid or row.provider_sid != sid:
        raise Forbidden("this webhook does not belong to that call")
    return row


def _twiml(twiml: VoiceResponse) -> Response:
    return Response(str(twiml), mimetype="application/xml")
