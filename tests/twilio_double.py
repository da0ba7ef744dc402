"""A small Twilio-compatible HTTP server on loopback, for the real `twilio` client to talk to.

It answers the Messages resource the way Twilio's REST API does (basic auth with the account
SID and auth token, form-encoded body, JSON answer with a message SID) and keeps what it got;
it lists them too, filtered by `To` and by the day sent (`DateSent>`: on or after that UTC
day, as Twilio reads it), newest first.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class TwilioDouble:
    account_sid: str
    auth_token: str
    messages: list[SentMessage] = field(default_factory=list)
    # Numbers Twilio refuses, as it refuses a number that cannot receive SMS (error 21211).
    refused: set[str] = field(default_factory=set)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def to(self, phone: str) -> list[SentMessage]:
        return [m for m in list(self.messages) if m.to == phone]

    def start(self) -> TwilioDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                expected = f"/2010-04-01/Accounts/{double.account_sid}/Messages.json"
                if not self._authorised():
                    return self._answer(401, {"code": 20003, "message": "Authenticate"})
                url = urlsplit(self.path)
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
                if self.path != expected:
                    return self._answer(404, {"code": 20404, "message": "not found"})
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if not form.get("To") or not form.get("Body"):
                    return self._answer(400, {"code": 21604, "message": "To and Body required"})
                if form["To"] in double.refused:
                    return self._answer(
                        400,
                        {
                            "code": 21211,
                            "message": f"The 'To' number {form['To']} is not a valid phone number.",
                            "status": 400,
                        },
                    )
                message = SentMessage(
                    sid="SM" + secrets.token_hex(16),
                    to=form["To"],
                    from_=form.get("From", ""),
                    body=form["Body"],
                    status_callback=form.get("StatusCallback"),
                )
                double.messages.append(message)
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
