"""A site's two report endpoints on loopback, as a hospital would run them: a webhook that
checks `X-Garde-Signature` with the site's secret (its own HMAC, not Garde's code), and an
MLLP listener that answers each ORU^R01 with an ACK built by hl7apy.

Each answers as it is told (`answers`: the next statuses or ACK codes, then success), keeps
what it got, and may hold an answer until released (`gate`)."""

from __future__ import annotations

import hashlib
import hmac
import socketserver
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hl7apy.core import Message
from hl7apy.parser import parse_message

WAIT_S = 30


@dataclass(frozen=True)
class Posted:
    body: bytes
    headers: dict[str, str]
    signed: bool  # the signature matched the body with the site's secret


@dataclass
class Webhook:
    secret: str
    answers: deque[int] = field(default_factory=deque)
    received: list[Posted] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.gate.set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/garde/reports"

    def start(self) -> Webhook:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                expected = hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                signed = hmac.compare_digest(expected, self.headers.get("X-Garde-Signature", ""))
                receiver.received.append(Posted(body, dict(self.headers.items()), signed))
                receiver.gate.wait(WAIT_S)
                status = (
                    (receiver.answers.popleft() if receiver.answers else 201) if signed else 401
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.gate.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class MllpListener:
    answers: deque[tuple[str, str]] = field(default_factory=deque)  # (MSA-1, MSA-3)
    received: list[str] = field(default_factory=list)
    _server: socketserver.ThreadingTCPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> MllpListener:
        listener = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data = b""
                while b"\x1c\x0d" not in data:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                text = data[data.index(b"\x0b") + 1 : data.index(b"\x1c\x0d")].decode()
                listener.received.append(text)
                code, reason = listener.answers.popleft() if listener.answers else ("AA", "")
                self.request.sendall(b"\x0b" + ack(text, code, reason).encode() + b"\x1c\x0d")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def ack(message: str, code: str, reason: str = "", acknowledged: str | None = None) -> str:
    """The ACK a RIS answers: MSA-1 the code, MSA-2 the message's MSH-10, MSA-3 why."""
    control_id = parse_message(message, find_groups=False).msh.msh_10.value
    answer = Message("ACK", version="2.5")
    answer.msh.msh_3 = "RIS"
    answer.msh.msh_9 = "ACK^R01^ACK"
    answer.msh.msh_10 = "ACK-" + control_id
    answer.msh.msh_11 = "P"
    answer.msa.msa_1 = code
    answer.msa.msa_2 = acknowledged if acknowledged is not None else control_id
    if reason:
        answer.msa.msa_3 = reason
    return str(answer.to_er7()) + "\r"
