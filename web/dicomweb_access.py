"""Who may read which studies over DICOMweb, by the root they come through, and from which
browser pages (CORS).

- `/dicomweb`: a bearer token or the session cookie. Coordinators and admins read every
  study; a site its own; an expert the studies of the cases they hold or held (the rule that
  lets them read those cases' records, web/access.py).
- `/viewer/<token>/dicomweb`: a signed link to one case's studies for one user (`viewer_link`),
  what a viewer in another tab is given, since it sends neither cookie nor bearer token. It
  reads no more than its user may read now: a user disabled, logged out everywhere or who
  lost the case loses the link too; it lapses after its lifetime (8 hours by default).
- `/share/<token>/dicomweb`: a share link's one study (garde/shares.py), de-identified when the
  share says so, each access recorded.

A study out of scope is answered 404, as an unknown one: a link never tells what exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, Response, current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydicom.dataset import Dataset
from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session

from dicom.deidentify import deidentify, new_uid
from garde.domain import STAFF, Role
from garde.errors import NotAuthenticated, NotFound
from garde.models import Case, Instance, Series, ShareLink, Study, User
from garde.shares import is_live, share_key
from web import services
from web.access import held_by

VIEWER_SALT = "garde-viewer-link"
VIEWER_LINK_LIFETIME = timedelta(hours=8)
ROOT = "/dicomweb"
VIEWER_ROOT = "/viewer/<token>/dicomweb"
SHARE_ROOT = "/share/<token>/dicomweb"
READ_METHODS = ("GET", "HEAD")


def _same(uid: str) -> str:
    return uid


@dataclass(frozen=True)
class Scope:
    """What one request may read: the studies (a condition on Study), and how UIDs and data
    sets look through this root (a de-identified share maps them, else they are as stored)."""

    studies: ColumnElement[bool]
    change: Callable[[Dataset], Dataset] | None = None
    uid_out: Callable[[str], str] = _same
    uid_in: Callable[[str], str | None] = _same
    # Query keys refused (a de-identified share's: they would match the hidden identity).
    private_keys: tuple[str, ...] = ()


def user_studies(user: User) -> ColumnElement[bool]:
    """The studies this user reads over DICOMweb."""
    role = Role(user.role)
    if role in STAFF:
        return true()
    if role is Role.SITE:
        return Study.site_id == user.site_id if user.site_id is not None else false()
    if user.expert_id is None:
        return false()
    return Study.case_id.in_(select(Case.id).where(held_by(user.expert_id)))


def bearer_scope(user: User | None) -> Scope:
    if user is None:
        raise NotAuthenticated("DICOMweb takes a bearer token (Authorization: Bearer TOKEN)")
    return Scope(user_studies(user))


# Viewer links ------------------------------------------------------------------------------


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=VIEWER_SALT)


def viewer_token(
    secret_key: str, case_id: int, user: User, lifetime: timedelta = VIEWER_LINK_LIFETIME
) -> str:
    """A signed token naming the case, the user (and their session epoch) and its lifetime."""
    payload = {
        "c": case_id,
        "u": user.id,
        "e": user.session_epoch,
        "s": int(lifetime.total_seconds()),
    }
    return _serializer(secret_key).dumps(payload)


def viewer_link(case_id: int, user: User, lifetime: timedelta = VIEWER_LINK_LIFETIME) -> str:
    """The absolute DICOMweb root (from GARDE_PUBLIC_URL) through which a viewer reads this
    case's studies as `user` may, for `lifetime`; no trailing slash."""
    settings = services().settings
    token = viewer_token(settings.secret_key, case_id, user, lifetime)
    return f"{settings.public_url}/viewer/{token}/dicomweb"


def viewer_scope(db: Session, token: str) -> Scope:
    """The case's studies as the link's user may read them now; NotFound otherwise."""
    secret: str = current_app.config["SECRET_KEY"]
    try:
        payload, signed_at = _serializer(secret).loads(token, return_timestamp=True)
        case_id, user_id, epoch, lifetime = (payload[k] for k in ("c", "u", "e", "s"))
    except (BadSignature, KeyError, TypeError, ValueError):
        raise NotFound("no such viewer link") from None
    if time.time() - signed_at.timestamp() > lifetime:
        raise NotFound("this viewer link has expired")
    user = db.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or user.disabled_at is not None or user.session_epoch != epoch:
        raise NotFound("no such viewer link")
    return Scope(user_studies(user) & (Study.case_id == case_id))


# Share links --------------------------------------------------------------------------------


def share_scope(db: Session, share: ShareLink | None) -> Scope:
    """The share's one study, de-identified if it says so; NotFound when there is no such
    share, or it has expired or been revoked (alike, so a link tells nothing)."""
    if share is None or not is_live(share):
        raise NotFound("no such share link, or it has expired or been revoked")
    studies = Study.id == share.study_id
    if not share.deidentify:
        return Scope(studies)
    key = share_key(share, current_app.config["SECRET_KEY"])
    uids = db.execute(
        select(Study.study_instance_uid, Series.series_instance_uid, Instance.sop_instance_uid)
        .select_from(Study)
        .join(Series, Series.study_id == Study.id, isouter=True)
        .join(Instance, Instance.series_id == Series.id, isouter=True)
        .where(studies)
    )
    back = {new_uid(key, uid): uid for row in uids for uid in row if uid}
    return Scope(
        studies,
        change=lambda ds: deidentify(ds, key),
        uid_out=lambda uid: new_uid(key, uid),
        uid_in=back.get,
        private_keys=(
            "PatientName", "PatientID", "AccessionNumber", "StudyDate", "StudyDescription",
            "SeriesDescription", "BodyPartExamined",
        ),
    )  # fmt: skip


# CORS ----------------------------------------------------------------------------------------


def _dicomweb_path(path: str) -> bool:
    parts = path.split("/")
    return (
        path.startswith(ROOT + "/")
        or path == ROOT
        or (len(parts) > 3 and parts[1] in ("viewer", "share") and parts[3] == "dicomweb")
    )


def install_cors(app: Flask) -> None:
    """Reads from the configured origins' pages (GARDE_DICOMWEB_CORS_ORIGINS): a preflight is
    answered here, before any login; Authorization may be sent, cookies never are (no
    Allow-Credentials). A preflight from another origin is refused (403)."""
    origins = app.extensions["garde"].settings.dicomweb_cors_origins

    def allowed(origin: str | None) -> bool:
        return origin is not None and ("*" in origins or origin in origins)

    @app.before_request
    def preflight() -> Response | None:
        if request.method != "OPTIONS" or not _dicomweb_path(request.path):
            return None
        if "Access-Control-Request-Method" not in request.headers:
            return None
        origin = request.headers.get("Origin")
        asked = request.headers["Access-Control-Request-Method"].upper()
        if not allowed(origin) or asked not in READ_METHODS:
            return Response(
                '{"error": "forbidden", "detail": "this origin may not read DICOMweb"}',
                403,
                mimetype="application/json",
            )
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = ", ".join(READ_METHODS)
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Accept"
        response.headers["Access-Control-Max-Age"] = "600"
        return response

    @app.after_request
    def cors(response: Response) -> Response:
        if not _dicomweb_path(request.path):
            return response
        response.vary.add("Origin")
        origin = request.headers.get("Origin")
        refused = request.method == "OPTIONS" and response.status_code == 403
        if allowed(origin) and not refused:
            response.headers["Access-Control-Allow-Origin"] = origin or ""
            response.headers["Access-Control-Expose-Headers"] = "Content-Type, Warning"
        return response
