"""A small Twilio-compatible HTTP server on loopback, for the real `twilio` client to talk to.

It answers the Messages resource the way Twilio's REST API does (basic auth with the account
SID and auth token, form-encoded body, JSON answer with a message SID) and keeps what it got;
it lists them too, filtered by `To` and by the day sent (`DateSent>`: on or after that UTC
day, as Twilio reads it), newest first.

On demand it misbehaves as Twilio can: it refuses a phone's messages with an HTTP status and a
Twilio error code (`fail`: 429 and 5xx for a while, 21211 or 21610 for good), takes a message
but holds its answer until released (`hold`: the sender may die waiting), and reports a
message's delivery to its `StatusCallback` URL, signed as Twilio signs it (`report`).

Its `voice` answers the Calls resource (create, and list by `To`) and plays the phone network
around a call placed: it picks up (fetches the TwiML from the call's `Url`), presses a key (to
the `<Gather>` action) and ends the call with a status (to its `StatusCallback`), each a POST
signed as Twilio signs it.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import requests
from twilio.request_validator import RequestValidator


@dataclass(frozen=True)
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Refusal:
    """How Twilio answers a message it will not take."""

    status: int
    code: int
    times: int | None  # None: every time

    def answer(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": f"refused by the Twilio double (error {self.code})",
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


@dataclass
class Hold:
    """A message taken whose answer waits: `arrived` once it is taken, until `release()`."""

    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


@dataclass(frozen=True)
class PlacedCall:
    sid: str
    to: str
    from_: str
    url: str
    status_callback: str | None
    timeout: int | None
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class VoiceDouble:
    """Twilio's Calls resource, and the phone network at the other end of each call."""

    account_sid: str
    auth_token: str
    calls: list[PlacedCall] = field(default_factory=list)

    @property
    def resource(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Calls.json"

    def to(self, phone: str) -> list[PlacedCall]:
        return [c for c in list(self.calls) if c.to == phone]

    # --- the REST resource ----------------------------------------------------------------

    def create(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if not form.get("To") or not form.get("From") or not form.get("Url"):
            return 400, {"code": 21205, "message": "To, From and Url are required", "status": 400}
        call = PlacedCall(
            sid="CA" + secrets.token_hex(16),
            to=form["To"],
            from_=form["From"],
            url=form["Url"],
            status_callback=form.get("StatusCallback"),
            timeout=int(form["Timeout"]) if form.get("Timeout") else None,
        )
        self.calls.append(call)
        return 201, self._call(call)

    def list(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        found = list(self.calls)
        for name, attribute in (("To", "to"), ("From", "from_")):
            if name in query:
                found = [c for c in found if getattr(c, attribute) == query[name][0]]
        found.sort(key=lambda c: c.date_created, reverse=True)
        page = {"page": 0, "page_size": len(found), "next_page_uri": None, "uri": self.resource}
        return 200, {"calls": [self._call(c) for c in found], **page}

    def _call(self, call: PlacedCall) -> dict[str, Any]:
        return {
            "sid": call.sid,
            "account_sid": self.account_sid,
            "to": call.to,
            "from": call.from_,
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": format_datetime(call.date_created),
            "uri": f"{self.resource[:-5]}/{call.sid}.json",
        }

    # --- the phone network ----------------------------------------------------------------

    def pick_up(self, call: PlacedCall) -> requests.Response:
        """The callee answers: Twilio fetches what to say from the call's Url."""
        return self.post(call.url, self._params(call, CallStatus="in-progress"))

    def press(self, call: PlacedCall, digit: str) -> requests.Response:
        """The callee picks up and presses a key: posted to the `<Gather>` action."""
        answered = self.pick_up(call)
        assert answered.status_code == 200, answered.text
        gather = ElementTree.fromstring(answered.text).find("Gather")
        assert gather is not None, answered.text
        return self.post(gather.attrib["action"], self._params(call, Digits=digit))

    def end(self, call: PlacedCall, status: str) -> requests.Response:
        """The call is over (no-answer, busy, failed, canceled, completed): its callback."""
        assert call.status_callback, f"call {call.sid} asked for no status callback"
        return self.post(call.status_callback, self._params(call, CallStatus=status))

    def post(
        self, url: str, params: dict[str, str], signature: str | None = None
    ) -> requests.Response:
        """A webhook as Twilio sends it, signed with the auth token unless `signature`."""
        if signature is None:
            signature = RequestValidator(self.auth_token).compute_signature(url, params)
        return requests.post(
            url, data=params, headers={"X-Twilio-Signature": signature}, timeout=30
        )

    def _params(self, call: PlacedCall, **extra: str) -> dict[str, str]:
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call.sid,
            "Direction": "outbound-api",
            "From": call.from_,
            "To": call.to,
            **extra,
        }


@dataclass
class TwilioDouble:
    account_sid: str
    auth_token: str
    messages: list[SentMessage] = field(default_factory=list)
    # Every POST of a message, by phone: the HTTP status it was answered with.
    answers: dict[str, list[int]] = field(default_factory=dict)
    _refusals: dict[str, Refusal] = field(default_factory=dict)
    _holds: dict[str, Hold] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def to(self, phone: str) -> list[SentMessage]:
        return [m for m in list(self.messages) if m.to == phone]

    @functools.cached_property
    def voice(self) -> VoiceDouble:
        return VoiceDouble(self.account_sid, self.auth_token)

    # --- misbehaving on demand, and status callbacks ------------------------------------

    def fail(self, phone: str, status: int, code: int, times: int | None = None) -> None:
        """Refuse the next `times` messages to this phone (every one when None) as Twilio
        does: 429 (20429) or 5xx (20500, 20503) for a while; 400 with 21211 (not a valid
        number) or 21610 (the recipient replied STOP) for good."""
        self._refusals[phone] = Refusal(status, code, times)

    def hold(self, phone: str) -> Hold:
        """The next message to this phone is taken, but its answer waits for `release()`."""
        held = self._holds[phone] = Hold()
        return held

    def posts_to(self, phone: str) -> list[int]:
        """The HTTP statuses every message POST to this phone was answered with."""
        return list(self.answers.get(phone, []))

    def report(self, sid: str, status: str, error_code: int | None = None) -> int:
        """Post a message's new status to its `StatusCallback`, signed as Twilio signs it;
        the HTTP status Garde answered."""
        message = next(m for m in self.messages if m.sid == sid)
        assert message.status_callback, f"message {sid} asked for no status callback"
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message.from_,
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        signature = RequestValidator(self.auth_token).compute_signature(
            message.status_callback, params
        )
        response = requests.post(
            message.status_callback,
            data=params,
            headers={"X-Twilio-Signature": signature},
            timeout=30,
        )
        return response.status_code

    def _refusal(self, phone: str) -> Refusal | None:
        refusal = self._refusals.get(phone)
        if refusal is None:
            return None
        if refusal.times is not None:
            refusal.times -= 1
            if refusal.times <= 0:
                del self._refusals[phone]
        self.answers.setdefault(phone, []).append(refusal.status)
        return refusal

    def _held(self, phone: str) -> None:
        held = self._holds.pop(phone, None)
        if held is not None:
            held.arrived.set()
            held.released.wait(timeout=120)

    def start(self) -> TwilioDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                expected = f"/2010-04-01/Accounts/{double.account_sid}/Messages.json"
                if not self._authorised():
                    return self._answer(401, {"code": 20003, "message": "Authenticate"})
                url = urlsplit(self.path)
                if url.path == double.voice.resource:
                    return self._answer(*double.voice.list(parse_qs(url.query)))
                if url.path != expected:
                    return self._answer(404, {"code": 20404, "message": "not found"})
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                found = list(double.messages)
                if "To" in query:
                    found = [m for m in found if m.to == query["To"]]
                if "DateSent>" in query:
                    since = date.fromisoformat(query["DateSent>"][:10])
                    found = [m for m in found if m.date_created.date() >= since]
                found.sort(key=lambda m: m.date_created, reverse=True)
                self._answer(
                    200,
                    {
                        "messages": [self._message(m, expected) for m in found],
                        "page": 0,
                        "page_size": len(found),
                        "next_page_uri": None,
                        "uri": self.path,
                    },
                )

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                expected = f"/2010-04-01/Accounts/{double.account_sid}/Messages.json"
                if not self._authorised():
                    return self._answer(401, {"code": 20003, "message": "Authenticate"})
                if self.path == double.voice.resource:
                    return self._answer(*double.voice.create(self._form()))
                if self.path != expected:
                    return self._answer(404, {"code": 20404, "message": "not found"})
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if not form.get("To") or not form.get("Body"):
                    return self._answer(400, {"code": 21604, "message": "To and Body required"})
                refusal = double._refusal(form["To"])
                if refusal is not None:
                    return self._answer(refusal.status, refusal.answer())
                message = SentMessage(
                    sid="SM" + secrets.token_hex(16),
                    to=form["To"],
                    from_=form.get("From", ""),
                    body=form["Body"],
                    status_callback=form.get("StatusCallback"),
                )
                double.messages.append(message)
                double._held(form["To"])
                double.answers.setdefault(form["To"], []).append(201)
                with contextlib.suppress(ConnectionError):  # the sender died waiting
                    self._answer(201, self._message(message, expected))

            def _message(self, message: SentMessage, resource: str) -> dict[str, Any]:
                return {
                    "sid": message.sid,
                    "account_sid": double.account_sid,
                    "to": message.to,
                    "from": message.from_,
                    "body": message.body,
                    "status": "queued",
                    "num_segments": "1",
                    "direction": "outbound-api",
                    "api_version": "2010-04-01",
                    "date_created": format_datetime(message.date_created),
                    "date_sent": None,
                    "uri": f"{resource[:-5]}/{message.sid}.json",
                }

            def _form(self) -> dict[str, str]:
                length = int(self.headers.get("Content-Length", 0))
                return {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}

            def _authorised(self) -> bool:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return False
                given = base64.b64decode(header[6:]).decode()
                return given == f"{double.account_sid}:{double.auth_token}"

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
