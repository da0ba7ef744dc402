"""What an expert sends to validate or refuse a régulation case's indication, from the API or
the expert's page: checked here once, before the workflow is asked."""

from __future__ import annotations

from typing import Annotated, Any

from sqlalchemy.orm import Session

from garde.errors import InvalidInput
from garde.messages import Refusal, Validation
from garde.protocols import by_code
from garde.validation import Input, text, validated


class ValidationInput(Input):
    """The indication validated: the protocol the site scans with."""

    protocol: Annotated[str, text(32, description="the code of an active protocol of the library")]
    note: Annotated[str, text(2000, description="for the technologist, beside the protocol")] = ""


class RefusalInput(Input):
    """The indication refused: the site is told why."""

    reason: Annotated[str, text(2000, description="why; the site reads it")]


def parse_validation(db: Session, data: Any, expert_id: int) -> Validation:
    given = validated(ValidationInput, data if data is not None else {})
    protocol = by_code(db, given.protocol)
    if protocol is None:
        raise InvalidInput({"protocol": f"unknown protocol {given.protocol}"})
    if not protocol.active:
        raise InvalidInput({"protocol": f"{protocol.code} is no longer in use"})
    return Validation(expert_id, protocol.id, given.note)


def parse_refusal(data: Any, expert_id: int) -> Refusal:
    given = validated(RefusalInput, data if data is not None else {})
    return Refusal(expert_id, given.reason)
