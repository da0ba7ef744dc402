"""One attempt at each of a site's endpoints, against real loopback servers: what counts as
delivered, what is written down when it is not (never the body), and a signature the
site's own check accepts only with its secret and only for the exact body."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from reports import mllp, webhook
from reports.outcome import Outcome
from tests.reports.site_endpoints import MllpListener, Webhook, ack

SECRET = "s3cret-of-the-site-0123"
BODY = webhook.bundle_body({"resourceType": "Bundle", "note": "Hématome |^~\\&"})
ORU = "MSH|^~\\&|GARDE|GARDE||SITE|20261129030507+0000||ORU^R01^ORU_R01|GARDE-R7|P|2.5\rPID|1\r"


@pytest.fixture
def receiver() -> Iterator[Webhook]:
    site = Webhook(SECRET).start()
    yield site
    site.stop()


@pytest.fixture
def listener() -> Iterator[MllpListener]:
    site = MllpListener().start()
    yield site
    site.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_signed_bundle_is_delivered_on_a_2xx(receiver: Webhook) -> None:
    outcome = webhook.post(receiver.url, SECRET, BODY, "case-1-report-7-delivery")
    assert outcome == Outcome(True, "HTTP 201")
    (got,) = receiver.received
    assert got.signed and got.body == BODY
    assert json.loads(got.body)["note"] == "Hématome |^~\\&"
    assert got.headers["Content-Type"] == "application/fhir+json"
    assert got.headers["X-Garde-Delivery"] == "case-1-report-7-delivery"


def test_the_sites_check_refuses_another_secret_or_a_changed_byte(receiver: Webhook) -> None:
    assert webhook.post(receiver.url, "another-secret-0123456", BODY, "d").detail == "HTTP 401"
    assert not receiver.received[-1].signed
    # The same signature on a body changed by one byte: refused too.
    good = webhook.signature(SECRET, BODY)
    assert webhook.signature(SECRET, BODY.replace(b"}", b" }", 1)) != good
    assert webhook.signature(SECRET, BODY) == good


def test_an_error_status_or_no_answer_is_a_failure_naming_it(receiver: Webhook) -> None:
    receiver.answers.extend([503, 302])
    assert webhook.post(receiver.url, SECRET, BODY, "d") == Outcome(False, "HTTP 503")
    # A redirect is not followed: the body goes nowhere else than the site's address.
    assert webhook.post(receiver.url, SECRET, BODY, "d") == Outcome(False, "HTTP 302")
    refused = webhook.post(f"http://127.0.0.1:{closed_port()}/x", SECRET, BODY, "d")
    assert not refused.delivered and "ConnectionRefusedError" in refused.detail
    assert "Hématome" not in refused.detail


def test_an_accepted_ack_of_our_message_is_delivered(listener: MllpListener) -> None:
    assert mllp.send(listener.endpoint, ORU) == Outcome(True, "AA")
    assert listener.received == [ORU]


def test_a_refusing_ack_is_a_failure_with_its_reason(listener: MllpListener) -> None:
    listener.answers.extend([("AE", "Unknown order"), ("AR", "")])
    assert mllp.send(listener.endpoint, ORU) == Outcome(False, "AE: Unknown order")
    assert mllp.send(listener.endpoint, ORU) == Outcome(False, "AR")


def test_an_ack_of_another_message_or_none_is_a_failure() -> None:
    other = mllp.read_ack(ack(ORU, "AA", acknowledged="GARDE-R8"), "GARDE-R7")
    assert other == Outcome(False, "AA of another message ('GARDE-R8')")
    assert not mllp.read_ack("not HL7 at all", "GARDE-R7").delivered
    assert mllp.read_ack(ack(ORU, "CA", "Filed"), "GARDE-R7") == Outcome(True, "CA: Filed")
    refused = mllp.send(f"127.0.0.1:{closed_port()}", ORU)
    assert not refused.delivered and "ConnectionRefusedError" in refused.detail


def test_a_listener_that_closes_without_answering_is_a_failure() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def hang_up() -> None:
            conn, _ = server.accept()
            conn.recv(65536)
            conn.close()

        threading.Thread(target=hang_up, daemon=True).start()
        outcome = mllp.send(f"127.0.0.1:{server.getsockname()[1]}", ORU)
    assert outcome == Outcome(False, "ConnectionError: closed before acknowledging")


def test_the_frame_is_mllps() -> None:
    assert mllp.frame("MSH|x\r") == b"\x0bMSH|x\r\x1c\x0d"
    assert mllp.control_id(ORU) == "GARDE-R7"
