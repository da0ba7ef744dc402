"""The protocol library (régulation): everyone who validates, scans or keeps it reads it;
coordinators and admins add and edit protocols."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from flask import Response, g, jsonify, request
from pydantic import Field, RootModel

from garde import vocabulary
from garde.domain import STAFF, Role
from garde.errors import NotFound
from garde.models import Protocol
from garde.protocols import ProtocolChange, ProtocolInput, by_code, create_protocol, protocols
from garde.protocols import update_protocol as change
from garde.validation import Input, validated, word
from web.access import roles
from web.api import body, bp
from web.api.describe import Answer, operation
from web.audit import audit
from web.case_views import iso


class ProtocolAnswer(Answer):
    """An acquisition protocol: what the site's technologist does once it is validated."""

    code: str
    name: str
    modality: str
    body_part: str = Field(description="DICOM Body Part Examined; empty: any")
    text: str = Field(description="the steps: contrast, phases, coverage, reformats")
    active: bool = Field(description="offered to validating experts")
    created_at: datetime
    updated_at: datetime


class Protocols(RootModel[list[ProtocolAnswer]]):
    """By modality, then name."""


class ProtocolQuery(Input):
    modality: Annotated[
        str | None,
        word(vocabulary.modality, vocabulary.MODALITIES, description="only this modality's"),
    ] = None
    active: bool | None = Field(None, description="only the active (true) or inactive ones")


@bp.get("/protocols")
@roles(Role.EXPERT, Role.SITE, *STAFF)
@operation(
    "protocols",
    "The protocol library (experts, sites, coordinators, admins)",
    {200: ("the protocols", Protocols)},
    query=ProtocolQuery,
)
def list_protocols() -> Response:
    query = validated(ProtocolQuery, request.args)
    found = protocols(g.db, modality=query.modality)
    if query.active is not None:
        found = [p for p in found if p.active is query.active]
    return jsonify([protocol_json(p) for p in found])


@bp.post("/protocols")
@roles(*STAFF)
@operation(
    "protocols",
    "Add a protocol to the library (coordinator, admin)",
    {201: ("the new protocol", ProtocolAnswer)},
    body=ProtocolInput,
)
def add_protocol() -> tuple[Response, int]:
    protocol = create_protocol(g.db, body())
    audit("protocol.create", f"protocol:{protocol.code}")
    g.db.commit()
    return jsonify(protocol_json(protocol)), 201


@bp.get("/protocols/<code>")
@roles(Role.EXPERT, Role.SITE, *STAFF)
@operation(
    "protocols",
    "One protocol (experts, sites, coordinators, admins)",
    {200: ("the protocol", ProtocolAnswer)},
    errors=(404,),
)
def get_protocol(code: str) -> Response:
    return jsonify(protocol_json(_coded(code)))


@bp.patch("/protocols/<code>")
@roles(*STAFF)
@operation(
    "protocols",
    "Change a protocol (coordinator, admin); `active` false withdraws it from validation",
    {200: ("the protocol", ProtocolAnswer)},
    body=ProtocolChange,
    errors=(404,),
    description="""
        Only the fields given change; `code` cannot. A case validated with the protocol
        keeps it: an inactive protocol is no longer offered, never taken back.
    """,
)
def patch_protocol(code: str) -> Response:
    protocol = _coded(code)
    data = body()
    change(protocol, data)
    audit("protocol.update", f"protocol:{protocol.code}", ", ".join(sorted(data)))
    g.db.commit()
    return jsonify(protocol_json(protocol))


def _coded(code: str) -> Protocol:
    protocol = by_code(g.db, code)
    if protocol is None:
        raise NotFound(f"no protocol has the code {code}")
    return protocol


def protocol_json(protocol: Protocol) -> dict[str, Any]:
    return {
        "code": protocol.code,
        "name": protocol.name,
        "modality": protocol.modality,
        "body_part": protocol.body_part,
        "text": protocol.text,
        "active": protocol.active,
        "created_at": iso(protocol.created_at),
        "updated_at": iso(protocol.updated_at),
    }
