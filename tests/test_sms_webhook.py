"""The Twilio webhooks' signatures (inbound answers: test_sms_inbound; status callbacks:
test_sms_delivery)."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from garde.models import SmsMessage
from tests.conftest import Region


def _inbound_count(region: Region) -> int:
    with region.stack.sessions() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(SmsMessage).where(SmsMessage.direction == "in")
            )
            or 0
        )


def test_forged_signature_gets_403_and_changes_nothing(region: Region) -> None:
    case = region.submit()
    code = region.offer_sms("alice")
    before = _inbound_count(region)
    r = region.stack.sms_reply(region.experts["alice"].phone, f"YES {code}", signature="forged=")
    assert r.status_code == 403
    time.sleep(1)
    assert region.case(case["id"])["status"] == "offered"
    assert _inbound_count(region) == before


def test_signature_over_other_params_is_refused(region: Region) -> None:
    """A valid signature for one body does not cover another (the params are signed)."""
    region.submit()
    code = region.offer_sms("alice")
    from twilio.request_validator import RequestValidator

    stack = region.stack
    assert stack.twilio is not None
    url = stack.env["GARDE_PUBLIC_URL"] + "/sms/inbound"
    signed_for = {"From": region.experts["alice"].phone, "Body": f"NO {code}", "MessageSid": "SMx"}
    signature = RequestValidator(stack.twilio.auth_token).compute_signature(url, signed_for)
    r = stack.sms_reply(
        region.experts["alice"].phone, f"YES {code}", sid="SMx", signature=signature
    )
    assert r.status_code == 403
