"""An MLLP client: one HL7 v2 message to the site's listener, and its acknowledgement read
back (HL7 v2.5, MSA-1: AA or CA accepted; AE, AR, CE, CR refused, MSA-3 saying why)."""

from __future__ import annotations

import socket
import time

from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message, parse_segment

from garde.validation import CONTROL
from reports.outcome import Outcome

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
# Connecting, sending and reading the acknowledgement, together; Temporal retries.
TIMEOUT_S = 10.0
# An acknowledgement is a few hundred bytes: a listener sending more is not answering us.
LONGEST_ACK = 64 * 1024
ACCEPTED = ("AA", "CA")
REFUSED = ("AE", "AR", "CE", "CR")


def frame(message: str) -> bytes:
    """The message as MLLP carries it: 0x0B, the message, 0x1C 0x0D."""
    return START_BLOCK + message.encode("utf-8") + END_BLOCK


def send(endpoint: str, message: str) -> Outcome:
    """Send the message to `host:port` (garde.registry checked it) and read its ACK."""
    host, _, port = endpoint.rpartition(":")
    deadline = time.monotonic() + TIMEOUT_S
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=TIMEOUT_S) as conn:
            conn.sendall(frame(message))
            ack = _read_frame(conn, deadline)
    except OSError as e:  # refused, reset, timed out, closed early
        return Outcome(False, f"{type(e).__name__}: {e}")
    return read_ack(ack, control_id(message))


def control_id(message: str) -> str:
    """MSH-10 of the message: the ACK's MSA-2 must repeat it."""
    msh = parse_segment(message.split("\r", 1)[0], version="2.5")
    return str(msh.msh_10.value)


def read_ack(text: str, expected_id: str) -> Outcome:
    """Delivered when the ACK accepts the message it names, and that message is ours."""
    try:
        ack = parse_message(text.replace("\n", "\r"), find_groups=False)
        code = str(ack.msa.msa_1.value)
        acknowledged = str(ack.msa.msa_2.value)
        reason = CONTROL.sub("", str(ack.msa.msa_3.value))[:200] if ack.msa.msa_3 else ""
    except (HL7apyException, AttributeError, IndexError) as e:
        return Outcome(False, f"unreadable acknowledgement: {type(e).__name__}")
    if not code:
        return Outcome(False, "an acknowledgement without MSA-1")
    if acknowledged != expected_id:
        return Outcome(False, f"{code} of another message ({acknowledged[:40]!r})")
    said = f"{code}: {reason}" if reason else code
    if code in ACCEPTED:
        return Outcome(True, said)
    if code in REFUSED:
        return Outcome(False, said)
    return Outcome(False, f"unknown acknowledgement code {code[:8]!r}")


def _read_frame(conn: socket.socket, deadline: float) -> str:
    received = b""
    while END_BLOCK not in received:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no acknowledgement in time")
        conn.settimeout(remaining)
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("closed before acknowledging")
        received += chunk
        if len(received) > LONGEST_ACK:
            raise ConnectionError("an acknowledgement longer than 64 KiB")
    body = received[: received.index(END_BLOCK)]
    return body[body.find(START_BLOCK) + 1 :].decode("utf-8", "replace")
