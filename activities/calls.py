"""The one voice port, with its two backends (Twilio, and the dev outbox when Twilio is unset),
and the activity that phones one person about a stat case nobody took, or a site about a
finding it has not acknowledged.

Every call is a `voice_calls` row, written ("placing") before Twilio is asked, so that a
retried activity calls nobody twice: a row found "placing" (the worker died waiting for
Twilio's answer) is called again only if Twilio's log shows no call from Garde to that number
since the row was written that another row has not claimed already. Twilio then fetches what
to say from `/voice/call/<id>` and reports the call's end to `/voice/status/<id>`
(web/voice.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError
from twilio.base.exceptions import TwilioRestException
from twilio.rest.api.v2010.account.call import CallInstance

from activities.errors import rows_must_exist, undeliverable
from activities.sms import CLOCK_SLACK, OUTBOX_NUMBER, Undeliverable, permanent, twilio_client
from garde.db import SessionFactory
from garde.messages import CallRequest
from garde.models import Site, VoiceCall
from garde.reachability import person_to_text
from garde.settings import Settings
from garde.texts import language_of

# A site asked to be called has no phone: nothing to ring, the step is skipped.
NO_PHONE = "NoPhone"


@dataclass(frozen=True)
class Call:
    """One call to place, once per `key`, about a case, to an expert, a coordinator or the
    site's phone."""

    to: str
    key: str
    case_id: int
    language: str
    ring_seconds: int
    expert_id: int | None = None
    coordinator_id: int | None = None
    site_id: int | None = None

    def row(self, sender: str, status: str) -> VoiceCall:
        return VoiceCall(
            case_id=self.case_id,
            idempotency_key=self.key,
            to_number=self.to,
            from_number=sender,
            expert_id=self.expert_id,
            coordinator_id=self.coordinator_id,
            site_id=self.site_id,
            language=self.language,
            status=status,
        )


class CallPort(Protocol):
    def place(self, call: Call) -> int:
        """Place the call once per key; the id of its row. Raises Undeliverable when the
        number can never be called."""
        ...


class DevCallOutbox:
    """Keeps calls for a developer to answer at /dev/outbox instead of ringing anyone."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def place(self, call: Call) -> int:
        with self._sessions.begin() as s:
            row = _by_key(s, call.key) or call.row(OUTBOX_NUMBER, "outbox")
            s.add(row)
            s.flush()
            return row.id


class TwilioCalls:
    """The real Twilio client; `GARDE_TWILIO_API_URL` points it at a proxy or a test double."""

    def __init__(self, sessions: SessionFactory, settings: Settings) -> None:
        assert settings.twilio_from_number
        self._sessions = sessions
        self._client = twilio_client(settings)
        self._public_url = settings.public_url
        self.sender = settings.twilio_from_number

    def place(self, call: Call) -> int:
        with self._sessions.begin() as s:
            row = _by_key(s, call.key)
            if row is not None and row.status != "placing":
                return row.id
            if row is not None:
                placed = self._placed_since(s, call.to, row.created_at)
                if placed is not None:
                    row.provider_sid, row.status = placed.sid, placed.status or "queued"
                    return row.id
            else:
                # Recorded before the call: a crash after it leaves a trace, not a second call.
                row = call.row(self.sender, "placing")
                s.add(row)
                s.flush()
            call_id = row.id
        try:
            placed = self._client.calls.create(
                to=call.to,
                from_=self.sender,
                url=f"{self._public_url}/voice/call/{call_id}",
                status_callback=f"{self._public_url}/voice/status/{call_id}",
                timeout=call.ring_seconds,
            )
        except TwilioRestException as e:
            if not permanent(e):
                raise  # Twilio is busy or unwell: the activity is retried, within its bound
            with self._sessions.begin() as s:
                s.get_one(VoiceCall, call_id).status = "failed"
            raise Undeliverable(f"Twilio refused the call (error {e.code or e.status})") from e
        with self._sessions.begin() as s:
            stored = s.get_one(VoiceCall, call_id)
            stored.provider_sid = placed.sid
            if stored.status == "placing":  # a status callback may have come first
                stored.status = placed.status or "queued"
        return call_id

    def _placed_since(self, s: Session, to: str, since: datetime) -> CallInstance | None:
        """A call from Garde to this number since `since` (a minute's slack for clocks) that
        no other row has claimed: the one this attempt placed before it died."""
        claimed = set(s.scalars(select(VoiceCall.provider_sid).where(VoiceCall.to_number == to)))
        for placed in self._client.calls.list(to=to, from_=self.sender, limit=50):
            created = placed.date_created
            fresh = created is None or created >= since - CLOCK_SLACK
            if fresh and placed.sid not in claimed:
                return placed
        return None


def make_call_port(settings: Settings, sessions: SessionFactory) -> CallPort:
    if settings.twilio_configured:
        return TwilioCalls(sessions, settings)
    return DevCallOutbox(sessions)


class PhoneCalls:
    def __init__(self, sessions: SessionFactory, calls: CallPort) -> None:
        self._sessions = sessions
        self._calls = calls

    @activity.defn
    def place_call(self, request: CallRequest) -> int:
        """Ring the expert, coordinator or site about the case; the call's id, which its
        answer and its end name when they reach the workflow. A site without a phone fails
        for good (`NoPhone`)."""
        if request.site_id is not None:
            call = self._site_call(request)
        else:
            who = "expert" if request.expert_id is not None else "coordinator"
            with rows_must_exist(f"{who} of {request.key}"), self._sessions() as s:
                person = person_to_text(s, request.expert_id, request.coordinator_id)
                call = Call(
                    person.phone,
                    request.key,
                    request.case_id,
                    language_of(person.language),
                    request.ring_seconds,
                    request.expert_id,
                    request.coordinator_id,
                )
        try:
            return self._calls.place(call)
        except Undeliverable as e:
            raise undeliverable(str(e)) from e

    def _site_call(self, request: CallRequest) -> Call:
        with rows_must_exist(f"site of {request.key}"), self._sessions() as s:
            site = s.get_one(Site, request.site_id)
            if not site.phone:
                raise ApplicationError(
                    f"site {site.code} has no phone", type=NO_PHONE, non_retryable=True
                )
            return Call(
                site.phone,
                request.key,
                request.case_id,
                language_of(site.language),
                request.ring_seconds,
                site_id=site.id,
            )


def _by_key(s: Session, key: str) -> VoiceCall | None:
    return s.scalar(select(VoiceCall).where(VoiceCall.idempotency_key == key))
