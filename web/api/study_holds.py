"""A legal hold on a study (PUT and DELETE /api/v1/studies/UID/hold): the retention purge keeps
it, whatever its site's retention says, until the hold is lifted. Coordinators and admins."""

from __future__ import annotations

from typing import Annotated

from flask import Response, g, jsonify
from pydantic import Field
from sqlalchemy import select

from garde.domain import STAFF
from garde.errors import InvalidInput, NotFound
from garde.models import Study
from garde.validation import DICOM_UID, Input, text, validated
from web.access import roles
from web.api import body, bp
from web.api.describe import Answer, operation
from web.audit import audit


class HoldInput(Input):
    """Why the study is kept (a dispute, a court's request): stored with it, never logged."""

    reason: Annotated[str, text(200, description="why the study is kept")]


class HoldAnswer(Answer):
    """The study's hold as it stands: a Study Instance UID sent by two sites is two studies,
    both held or released."""

    study_instance_uid: str
    sites: list[str] = Field(description="the codes of the sites the study was received for")
    legal_hold: bool
    legal_hold_reason: str


@bp.put("/studies/<study>/hold")
@roles(*STAFF)
@operation(
    "studies",
    "Put a study under legal hold: the retention purge keeps it (admin, coordinator)",
    {200: ("the study's hold", HoldAnswer)},
    body=HoldInput,
    errors=(404,),
)
def hold_study(study: str) -> Response:
    given = validated(HoldInput, body())
    return _set_hold(study, True, given.reason)


@bp.delete("/studies/<study>/hold")
@roles(*STAFF)
@operation(
    "studies",
    "Lift a study's legal hold: its site's retention applies again (admin, coordinator)",
    {200: ("the study's hold", HoldAnswer)},
    errors=(404,),
)
def release_study(study: str) -> Response:
    return _set_hold(study, False, "")


def _set_hold(study_uid: str, held: bool, reason: str) -> Response:
    if len(study_uid) > 64 or not DICOM_UID.match(study_uid):
        raise InvalidInput({"study": "must be a DICOM UID (digits and dots)"})
    studies = g.db.scalars(
        select(Study).where(Study.study_instance_uid == study_uid).order_by(Study.id)
    ).all()
    if not studies:
        raise NotFound("no study has this Study Instance UID")
    for study in studies:
        study.legal_hold, study.legal_hold_reason = held, reason
        audit("study.hold" if held else "study.release", f"study:{study.id}", study_uid)
    g.db.commit()
    return jsonify(
        {
            "study_instance_uid": study_uid,
            "sites": [s.site.code for s in studies],
            "legal_hold": held,
            "legal_hold_reason": reason,
        }
    )
