"""DICOMweb under /dicomweb (PS3.18). STOW-RS: a site posts instances as multipart/related;
type="application/dicom", each part streamed to disk and checked and stored by dicom.ingest,
the request's objects indexed as one batch and linked to their cases (web/received.py).

The answer is PS3.18's, as application/dicom+json: 200 when every instance was stored, 202
when some failed (FailedSOPSequence, each with its FailureReason, beside ReferencedSOPSequence),
409 when none was; never a plain 200 hiding a failure. An instance stored before is counted
as stored: it is acknowledged, not duplicated.

Writes take a site's bearer token (Authorization: Bearer TOKEN), never the session cookie: a
page of another origin must not post images in a logged-in user's name. The images are the
token's site's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import BinaryIO, cast

from flask import Blueprint, Response, g, request, url_for
from pydicom.dataset import Dataset

from dicom.objects import CANNOT_UNDERSTAND, UID_LENGTH, Refused
from garde.domain import Role
from garde.errors import Forbidden, InvalidInput, UnsupportedMediaType
from garde.validation import DICOM_UID
from web import services
from web.access import bearer_token, current_user, roles
from web.body_limits import large_body
from web.forms import UNSAFE_METHODS
from web.multipart_related import BrokenBody, parts
from web.received import Receiving

bp = Blueprint("dicomweb", __name__, url_prefix="/dicomweb")

DICOM = "application/dicom"
STOW_TYPE = f'multipart/related; type="{DICOM}"'


@bp.before_request
def machines_write() -> None:
    """Writes with a bearer token only."""
    if request.method in UNSAFE_METHODS and g.get("user") is not None and bearer_token() is None:
        raise Forbidden(
            "DICOMweb takes writes with a bearer token (Authorization: Bearer TOKEN), "
            "not the session cookie"
        )


@bp.post("/studies")
@roles(Role.SITE)
@large_body
def store() -> Response:
    """STOW-RS: instances of any studies."""
    return _store(None)


@bp.post("/studies/<study>")
@roles(Role.SITE)
@large_body
def store_study(study: str) -> Response:
    """STOW-RS: instances of this study; one of another study fails."""
    if len(study) > UID_LENGTH or not DICOM_UID.match(study):
        raise InvalidInput({"study": "must be a DICOM UID (digits and dots)"})
    return _store(study)


@dataclass(frozen=True)
class _Instance:
    sop_class_uid: str
    sop_instance_uid: str
    retrieve_url: str = ""
    failure: int | None = None


def _store(study: str | None) -> Response:
    boundary = _boundary()
    site_id = current_user().site_id
    assert site_id is not None, "a site login always has a site"
    receiving = Receiving(site_id)
    done: list[_Instance] = []
    try:
        for part in parts(cast(BinaryIO, request.stream), boundary):
            done.append(_one(receiving, part.headers, cast(BinaryIO, part), study))
    except BrokenBody as e:
        if not done:
            raise InvalidInput({"body": str(e)}) from None
        done.append(_Instance("", "", failure=CANNOT_UNDERSTAND))  # what followed is lost
    finally:
        receiving.finish()
    if not done:
        raise InvalidInput({"body": "holds no part"})
    return _answer(done, study)


def _boundary() -> str:
    """The body's boundary; 415 unless it is multipart/related of application/dicom."""
    params = {k.lower(): v for k, v in request.mimetype_params.items()}
    boundary = params.get("boundary", "")
    if request.mimetype != "multipart/related" or params.get("type", "").lower() != DICOM:
        raise UnsupportedMediaType(
            f"STOW-RS takes {STOW_TYPE}",
            {"Content-Type": f"must be {STOW_TYPE}, not {request.mimetype or 'none'}"},
        )
    if not boundary:
        raise InvalidInput({"Content-Type": "must name the parts' boundary"})
    return boundary


def _one(
    receiving: Receiving, headers: dict[str, str], part: BinaryIO, study: str | None
) -> _Instance:
    media = headers.get("content-type", DICOM).split(";")[0].strip().lower()
    if media != DICOM:
        return _Instance("", "", failure=CANNOT_UNDERSTAND)  # drained by parts()
    try:
        stored = receiving.take(part, study)
    except Refused as refused:
        return _Instance(refused.sop_class_uid, refused.sop_instance_uid, failure=refused.status)
    found = stored.received.object
    url = (
        _study_url(found.study_instance_uid)
        + f"/series/{found.series_instance_uid}/instances/{found.sop_instance_uid}"
    )
    return _Instance(found.sop_class_uid, found.sop_instance_uid, url)


def _answer(done: list[_Instance], study: str | None) -> Response:
    """PS3.18's Store Instances Response: 200 all stored, 202 some failed, 409 none stored."""
    answer = Dataset()
    if study is not None:
        answer.RetrieveURL = _study_url(study)
    failed = [i for i in done if i.failure is not None]
    stored = [i for i in done if i.failure is None]
    if failed:
        answer.FailedSOPSequence = [_item(i) for i in failed]
    if stored:
        answer.ReferencedSOPSequence = [_item(i) for i in stored]
    status = 409 if not stored else 202 if failed else 200
    return Response(json.dumps(answer.to_json_dict()), status, mimetype="application/dicom+json")


def _study_url(study: str) -> str:
    """Where a study is read again: at GARDE_PUBLIC_URL, never at the request's Host header
    (a proxy's, or forged)."""
    return f"{services().settings.public_url}{url_for('dicomweb.store_study', study=study)}"


def _item(instance: _Instance) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = instance.sop_class_uid
    item.ReferencedSOPInstanceUID = instance.sop_instance_uid
    if instance.failure is not None:
        item.FailureReason = instance.failure
    else:
        item.RetrieveURL = instance.retrieve_url
    return item
