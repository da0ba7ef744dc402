"""The one SMS port, with its two backends: Twilio, and the dev outbox when Twilio is unset.

Every message, in or out, is kept in `sms_messages`; the outbox is simply that table shown on
a web page. `send` is idempotent by key, so a retried activity sends nothing twice: the row is
written ("sending") before Twilio is called, and a row found "sending" (the worker died
waiting for Twilio's answer) is sent again only if Twilio's log shows no such message.

Twilio's answers: 429 and 5xx are "not now": the row stays "sending" with the error code, and
the activity fails to be retried within the bound of its policy (`workflows.policy.MESSAGES`).
Any other 4xx (21211 not a valid number, 21610 the recipient replied STOP, ...) is "never":
the row is "failed" with the code, whoever has that phone is marked unreachable by SMS
(`garde.reachability`), and `Undeliverable` is raised, which the activity makes non-retryable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageInstance

from garde.db import SessionFactory, insert_for
from garde.models import SmsMessage, utcnow
from garde.reachability import mark_unreachable
from garde.settings import Settings
from garde.texts import segments

OUTBOX_NUMBER = "+10000000000"
CLOCK_SLACK = timedelta(minutes=1)
# One attempt makes at most two calls to Twilio (its log of the number, then the message),
# each ending within this: well inside the activity's 30 s (MESSAGES), so that Temporal never
# starts the next attempt while this one may still be talking to Twilio.
HTTP_TIMEOUT = timedelta(seconds=10)


class Undeliverable(Exception):
    """The provider refused the message for good (a bad or blocked number): never retried."""


@dataclass(frozen=True)
class Sms:
    """One message to send, once per `key`. `kind` names the template it was rendered from
    (the message log shows it); `case_id` is the case it is about, if any."""

    to: str
    body: str
    key: str
    kind: str
    language: str | None = None
    case_id: int | None = None

    def columns(self, sender: str, status: str) -> dict[str, Any]:
        """Its row in the message log."""
        return {
            "direction": "out",
            "to_number": self.to,
            "from_number": sender,
            "body": self.body,
            "idempotency_key": self.key,
            "status": status,
            "kind": self.kind,
            "language": self.language,
            "case_id": self.case_id,
            "segments": segments(self.body).count,
        }


class SmsPort(Protocol):
    sender: str

    def send(self, sms: Sms) -> None:
        """Send once per key; raises Undeliverable when the message can never go out."""
        ...


class DevOutbox:
    """Stores messages for a developer to read at /dev/outbox instead of sending them."""

    sender = OUTBOX_NUMBER

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def send(self, sms: Sms) -> None:
        """Once per key: a retried send finds its row there and adds nothing."""
        with self._sessions.begin() as s:
            row = sms.columns(self.sender, "outbox")
            s.execute(insert_for(s, SmsMessage).values(row).on_conflict_do_nothing())


class TwilioSms:
    """The real Twilio client; `GARDE_TWILIO_API_URL` points it at a proxy or a test double."""

    def __init__(self, sessions: SessionFactory, settings: Settings) -> None:
        assert settings.twilio_from_number
        self._sessions = sessions
        self._client = twilio_client(settings)
        self._status_callback = f"{settings.public_url}/sms/status"
        self.sender = settings.twilio_from_number

    def send(self, sms: Sms) -> None:
        to, body, key = sms.to, sms.body, sms.key
        with self._sessions.begin() as s:
            row = s.scalar(select(SmsMessage).where(SmsMessage.idempotency_key == key))
            if row is not None and row.status == "failed":
                raise Undeliverable(f"Twilio refused the message (error {row.error_code})")
            if row is not None and row.status != "sending":
                return
            if row is not None:
                # An attempt stopped between writing the row and hearing Twilio: did the
                # message go? Twilio's log of messages to that number says.
                sent = self._sent_since(to, body, row.created_at)
                if sent is not None:
                    row.provider_sid, row.status = sent.sid, sent.status or "queued"
                    row.error_code = None
                    return
            else:
                # Recorded before the call: a crash after it leaves a trace, not a silent resend.
                s.add(SmsMessage(**sms.columns(self.sender, "sending")))
        try:
            message = self._client.messages.create(
                to=to, from_=self.sender, body=body, status_callback=self._status_callback
            )
        except TwilioRestException as e:
            code = str(e.code or e.status)
            with self._sessions.begin() as s:
                stored = s.scalar(select(SmsMessage).where(SmsMessage.idempotency_key == key))
                assert stored is not None
                stored.error_code = code
                if permanent(e):
                    stored.status = "failed"
                    mark_unreachable(s, to, f"twilio {code}", utcnow())
            if not permanent(e):
                raise  # Twilio is busy or unwell: the activity is retried, within its bound
            raise Undeliverable(f"Twilio refused the message (error {code})") from e
        with self._sessions.begin() as s:
            stored = s.scalar(select(SmsMessage).where(SmsMessage.idempotency_key == key))
            assert stored is not None
            stored.provider_sid, stored.error_code = message.sid, None
            if stored.status == "sending":  # a status callback may have come first
                stored.status = message.status or "queued"

    def _sent_since(self, to: str, body: str, since: datetime) -> MessageInstance | None:
        """The message with this body Twilio took for this number since `since`, if any.
        (Twilio filters by the day sent; the time is compared here, with a minute's slack
        for clocks.)"""
        for message in self._client.messages.list(to=to, date_sent_after=since.date(), limit=50):
            created = message.date_created
            if message.body == body and (created is None or created >= since - CLOCK_SLACK):
                return message
        return None


def twilio_client(settings: Settings) -> Client:
    """The real Twilio client, for messages and calls: `GARDE_TWILIO_API_URL` points it at a
    proxy or a test double, and no request waits longer than HTTP_TIMEOUT."""
    assert settings.twilio_account_sid and settings.twilio_auth_token
    client = Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        http_client=TwilioHttpClient(timeout=HTTP_TIMEOUT.total_seconds()),
    )
    if settings.twilio_api_url:
        client.api.base_url = settings.twilio_api_url.rstrip("/")
    return client


def make_sms_port(settings: Settings, sessions: SessionFactory) -> SmsPort:
    if settings.twilio_configured:
        return TwilioSms(sessions, settings)
    return DevOutbox(sessions)


def permanent(e: TwilioRestException) -> bool:
    """4xx means this message will never go (bad number, unsubscribed); 429 is only a wait."""
    return 400 <= e.status < 500 and e.status != 429
