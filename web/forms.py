"""CSRF protection for the HTML forms: one random token per session, checked on every POST.

The JSON API, FHIR, the Twilio webhooks, DICOMweb and Temporal's codec endpoint are left out:
they are called by machines with a bearer token or a signature, never by a browser form riding
on the session cookie (the API refuses writes that come with the cookie alone: web/api; FHIR
takes no cookie: web/fhir; the codec endpoint takes JSON only, which no form can send:
web/codec_server.py).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import Blueprint, request, session
from markupsafe import Markup
from werkzeug.exceptions import BadRequest

FIELD = "csrf_token"
MACHINE_PATHS = ("/api/", "/fhir/", "/sms/", "/voice/", "/dicomweb/", "/temporal-codec/")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class FormExpired(BadRequest):
    description = "the form expired, reload the page"


def csrf_token() -> str:
    """This session's token, made on first use; login and logout clear it with the session."""
    token = session.get(FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[FIELD] = token
    return token


def csrf_field() -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, csrf_token())


def check_csrf() -> None:
    if request.method not in UNSAFE_METHODS or request.path.startswith(MACHINE_PATHS):
        return
    expected = session.get(FIELD)
    given = request.form.get(FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), given.encode()):
        raise FormExpired()


def protect(bp: Blueprint) -> None:
    """Install the check and the template helpers app-wide, through one blueprint."""

    def template_helpers() -> dict[str, Any]:
        return {"csrf_token": csrf_token, "csrf_field": csrf_field}

    bp.before_app_request(check_csrf)
    bp.app_context_processor(template_helpers)
