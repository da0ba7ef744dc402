"""Twilio's webhooks (SMS and voice) are believed only when signed with our auth token.

Twilio signs the URL it called, which is ours as the outside world sees it: GARDE_PUBLIC_URL
and the path (and query), not the address this process listens on behind a proxy.
"""

from __future__ import annotations

import logging

from flask import request
from twilio.request_validator import RequestValidator

from garde.errors import Forbidden
from web import services

log = logging.getLogger(__name__)


def check_twilio_signature() -> None:
    """403 unless `X-Twilio-Signature` signs this request's URL and form."""
    settings = services().settings
    if not settings.twilio_auth_token:
        raise Forbidden("Twilio is not configured here; use the dev outbox")
    url = settings.public_url + request.path
    if request.query_string:
        url += "?" + request.query_string.decode()
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(settings.twilio_auth_token).validate(url, request.form, signature):
        # The path and why, never the form: it holds a phone number and a message.
        log.warning(
            "refused %s %s: the X-Twilio-Signature does not match", request.method, request.path
        )
        raise Forbidden("the X-Twilio-Signature does not match")
