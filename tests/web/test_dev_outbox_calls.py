"""The dev outbox keeps the calls of stat cases too: a developer presses a key as the callee."""

from __future__ import annotations

from sqlalchemy import select

from garde.models import VoiceCall
from tests.conftest import Stack, make_region, wait_for
from tests.web.test_pages import coordinator, flashes


def test_dev_outbox_shows_calls_and_pressing_1_accepts_for_the_expert(
    outbox_stack: Stack,
) -> None:
    region = make_region(outbox_stack)
    r = outbox_stack.api(region.admin_token).patch(
        f"/api/v1/sites/{region.site}",
        json={
            "service_levels": {"stat": {"offer_timeout_s": 1}},
            "escalation": {"stat": ["broadcast", "coordinator"]},
        },
    )
    assert r.status_code == 200, r.text
    case = region.submit(priority="stat")
    alice = region.experts["alice"]

    def call_to_alice() -> VoiceCall | None:
        with outbox_stack.sessions() as s:
            return s.scalar(
                select(VoiceCall).where(
                    VoiceCall.case_id == case["id"], VoiceCall.to_number == alice.phone
                )
            )

    call = wait_for(call_to_alice, 30, "a call to alice in the outbox")
    assert (call.status, call.provider_sid) == ("outbox", None)
    outbox = coordinator(outbox_stack)
    page = outbox.get("/dev/outbox").text
    assert "Calls" in page and alice.phone in page and "Dr Alice" in page
    assert f"/dev/outbox/calls/{call.id}/press" in page

    bad = outbox.submit("/dev/outbox", f"/dev/outbox/calls/{call.id}/press", {"digits": "7"})
    assert bad.status_code == 302
    assert any("digits must be 1 or 2" in m for m in flashes(outbox.get("/dev/outbox").text))

    r = outbox.submit("/dev/outbox", f"/dev/outbox/calls/{call.id}/press", {"digits": "1"})
    assert r.status_code == 302
    said = flashes(outbox.get("/dev/outbox").text)
    assert any(m.startswith(f"Garde said to {alice.phone}: Merci") for m in said), said
    accepted = region.wait_status(case["id"], "accepted")
    assert accepted["assigned_expert"] == alice.code
    assert any(e.get("detail") == "via voice" for e in accepted["timeline"])
    answered = call_to_alice()
    assert answered is not None and answered.digits == "1"
