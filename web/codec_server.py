"""The codec endpoint of the Temporal UI (and of `temporal --codec-endpoint`): an admin's
browser or command line hands Garde the encrypted payloads of a history and gets them back
readable (garde/payload_codec.py), each reading recorded in the audit log.

Temporal's protocol: POST .../decode and .../encode (the UI adds `?preserveStorageRefs=true`,
which changes nothing here), both taking and giving
`{"payloads": [{"metadata": {name: base64}, "data": base64}]}`, with the namespace in
`X-Namespace`. Admins only, by API token (`Authorization: Bearer`, as the Temporal CLI's
`--codec-auth` sends it) or by their Garde session (the UI's "include cross-origin
credentials"). Only JSON is taken, so no other site's form can post here; and only the page of
GARDE_TEMPORAL_UI_ORIGIN is let call it from a browser (CORS), so no other site reads an answer.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from garde.domain import Role
from garde.errors import InvalidInput
from garde.payload_codec import EncryptionCodec, PayloadKeyError
from web import services
from web.access import roles
from web.api import body
from web.audit import audit

bp = Blueprint("temporal_codec", __name__, url_prefix="/temporal-codec")

NAMESPACE = re.compile(r"[A-Za-z0-9._-]{1,54}")  # as Temporal names them; fits the audit target
SHAPE = 'must be {"payloads": [{"metadata": {NAME: BASE64}, "data": BASE64}]}'
# What the UI sends: its token and the token's extras (if told to pass them), JSON, the namespace.
ALLOWED_HEADERS = "Authorization, Authorization-Extras, Content-Type, X-Namespace"


@bp.after_request
def cross_origin(response: Response) -> Response:
    """The Temporal UI's page may call (its preflight OPTIONS is Flask's automatic answer,
    given these headers here) and send the admin's session cookie; no other origin may."""
    response.vary.add("Origin")
    origin = services().settings.temporal_ui_origin
    if origin is not None and request.headers.get("Origin") == origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return response


@bp.post("/decode")
@roles(Role.ADMIN)
def decode() -> Response:
    namespace = _namespace()
    payloads = _payloads()
    try:
        readable = [_codec().decrypt(p) for p in payloads]
    except PayloadKeyError as e:
        raise InvalidInput({"payloads": str(e)}) from None
    audit("temporal.decode", f"namespace:{namespace}", f"{len(payloads)} payload(s)")
    g.db.commit()
    return _answer(readable)


@bp.post("/encode")
@roles(Role.ADMIN)
def encode() -> Response:
    _namespace()
    return _answer([_codec().encrypt(p) for p in _payloads()])


def _codec() -> EncryptionCodec:
    return EncryptionCodec(services().settings.payload_keys)


def _namespace() -> str:
    """The namespace the UI names; Garde's own when none is named."""
    given = request.headers.get("X-Namespace")
    if given is None:
        return services().settings.temporal_namespace
    if not NAMESPACE.fullmatch(given):
        raise InvalidInput({"X-Namespace": "must be a namespace name (letters, digits, . _ -)"})
    return given


def _payloads() -> list[Payload]:
    data: Any = body()
    if not isinstance(data, dict) or not isinstance(data.get("payloads"), list):
        raise InvalidInput({"payloads": SHAPE})
    try:
        return list(json_format.ParseDict(data, Payloads()).payloads)
    except json_format.ParseError:
        raise InvalidInput({"payloads": SHAPE}) from None


def _answer(payloads: list[Payload]) -> Response:
    return jsonify({"payloads": [json_format.MessageToDict(p) for p in payloads]})
