"""The protocol library a validating expert picks from (régulation): coordinators add and
edit protocols, through the API or their pages, from the same validated input. A protocol is
deactivated rather than deleted: the cases that used it keep it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo
from sqlalchemy import select
from sqlalchemy.orm import Session

from garde import vocabulary
from garde.errors import InvalidInput
from garde.models import Protocol, utcnow
from garde.validation import CODE, Input, text, validated, word

# The fields a change may give; `code` never changes (cases and RIS messages name it).
FIELDS = ("name", "modality", "body_part", "text", "active")


def _unused(code: str, info: ValidationInfo) -> str:
    session = (info.context or {}).get("session")
    assert isinstance(session, Session), "a new protocol is checked with a session"
    if session.scalar(select(Protocol.id).where(Protocol.code == code)) is not None:
        raise ValueError("is already used by another protocol")
    return code


Modality = Annotated[str, word(vocabulary.modality, vocabulary.MODALITIES)]
BodyPart = Annotated[
    str,
    text(64, description="DICOM Body Part Examined (HEAD, CHEST...); empty: any"),
    AfterValidator(str.upper),
]
Name = Annotated[str, text(200, description="as the expert and the site read it")]
Steps = Annotated[
    str,
    text(4000, description="what the technologist does: contrast, phases, coverage, reformats"),
]


# Defined out of the classes: their field `text` hides the rule of that name.
NewCode = Annotated[
    str,
    text(32, pattern=CODE, description="never changes: cases and messages name it by it"),
    AfterValidator(_unused),
]


class ProtocolInput(Input):
    """A new protocol of the library."""

    code: NewCode
    name: Name
    modality: Modality
    body_part: BodyPart = ""
    text: Steps = ""
    active: bool = Field(True, description="false: no longer offered to validating experts")


class ProtocolChange(Input):
    """Only the fields given change; `code` cannot."""

    name: Name | None = None
    modality: Modality | None = None
    body_part: BodyPart | None = Field(None, description="empty: any")
    text: Steps | None = Field(None, description="empty: none")
    active: bool | None = None


def protocols(
    session: Session, *, modality: str | None = None, active_only: bool = False
) -> list[Protocol]:
    """The library by modality and name; only a modality's, or only the active ones."""
    query = select(Protocol).order_by(Protocol.modality, Protocol.name, Protocol.code)
    if modality is not None:
        query = query.where(Protocol.modality == modality)
    if active_only:
        query = query.where(Protocol.active.is_(True))
    return list(session.scalars(query))


def by_code(session: Session, code: str) -> Protocol | None:
    return session.scalar(select(Protocol).where(Protocol.code == code))


def create_protocol(session: Session, data: Any) -> Protocol:
    given = validated(ProtocolInput, data, session=session)
    protocol = Protocol(**given.model_dump())
    session.add(protocol)
    session.flush()
    return protocol


def update_protocol(protocol: Protocol, data: Any) -> None:
    """Change the fields given, and only those; nothing changes when one is wrong, and every
    wrong one is named at once."""
    problems: dict[str, str] = {}
    if isinstance(data, Mapping):
        if "code" in data and data["code"] != protocol.code:
            problems["code"] = "cannot change: cases and messages name the protocol by it"
        for name in ("name", "modality", "active"):  # given empty: a protocol needs them
            if name in data and (data[name] is None or str(data[name]).strip() == ""):
                problems[name] = "is required"
    try:
        change = validated(ProtocolChange, data)
    except InvalidInput as e:
        raise InvalidInput(e.fields | problems) from None
    if problems:
        raise InvalidInput(problems)
    changes = {name: getattr(change, name) for name in FIELDS if name in data}
    for name, value in changes.items():
        setattr(protocol, name, "" if value is None else value)
    if changes:
        protocol.updated_at = utcnow()
