"""A crash loses nothing: the worker dies while a case waits, the SMS answer still lands."""

from __future__ import annotations

from tests.conftest import Region


def test_case_accepted_by_sms_while_worker_is_down_resumes_on_restart(region: Region) -> None:
    stack = region.stack
    case = region.submit()
    code = region.offer_sms("alice")
    stack.stop("worker", kill=True)
    try:
        # Twilio is answered at once: the reply is a signal, stored by Temporal.
        reply = stack.sms_reply(region.experts["alice"].phone, f"YES {code}")
        assert reply.status_code == 200
        assert region.case(case["id"])["status"] == "offered"
    finally:
        stack.start("worker")
    accepted = region.wait_status(case["id"], "accepted", timeout=60)
    assert accepted["assigned_expert"] == region.experts["alice"].code
