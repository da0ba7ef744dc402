"""A small Twilio-compatible HTTP server on loopback, for the real `twilio` client to talk to.

It answers the Messages resource the way Twilio's REST API does (basic auth with the account
SID and auth token, form-encoded body, JSON answer with a message SID) and keeps what it got.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None


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
                self._answer(
                    201,
                    {
                        "sid": message.sid,
                        "account_sid": double.account_sid,
                        "to": message.to,
                        "from": message.from_,
                        "body": message.body,
                        "status": "queued",
                        "num_segments": "1",
                        "direction": "outbound-api",
                        "api_version": "2010-04-01",
                        "uri": f"{expected[:-5]}/{message.sid}.json",
                    },
                )

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
