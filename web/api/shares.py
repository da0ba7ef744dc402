"""Share links (garde/shares.py): the case's site or the expert holding it makes one for a
doctor in town, who reads the study and its final report without a login until it expires or
is revoked."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from flask import Response, g, jsonify
from pydantic import Field

from garde.errors import Forbidden
from garde.shares import (
    FORBIDDEN,
    MAX_EXPIRES_IN_S,
    MIN_EXPIRES_IN_S,
    create_share,
    described,
    dicomweb_root,
    may_share,
    page_url,
    revoke_share,
)
from garde.validation import Input, between, validated
from web import services
from web.access import case_for, current_user
from web.api import body, bp
from web.api.describe import Answer, Reply, operation
from web.audit import audit
from web.case_views import iso


class ShareInput(Input):
    """A new link: how long it opens the study, and whether the images are de-identified."""

    expires_in_s: Annotated[
        int,
        between(
            MIN_EXPIRES_IN_S,
            MAX_EXPIRES_IN_S,
            description="seconds from now: 5 minutes (300) to 90 days (7776000)",
        ),
    ]
    deidentify: bool = Field(
        False,
        description="serve the images under the DICOM Basic Confidentiality Profile (PS3.15 "
        "E.1-1): names, IDs, dates and institutions removed or replaced, new UIDs",
    )


class ShareAnswer(Answer):
    """Shown once: Garde keeps only the token's hash."""

    token: str
    url: str = Field(description="the page with the final report and the viewer link")
    dicomweb_root: str = Field(description="read-only DICOMweb root of the study, for a viewer")
    expires_at: datetime
    deidentify: bool


@bp.post("/cases/<int:case_id>/share")
@operation(
    "cases",
    "A link to the case's study and final report for a doctor in town (site, holding expert)",
    {201: ("the link, shown once", ShareAnswer)},
    body=ShareInput,
    errors=(403, 404, 409),
    description="""
        The token in `url` and `dicomweb_root` opens them without a login until `expires_at`
        or a revocation (DELETE /shares/TOKEN). 403 to a user who sees the case but neither
        is its site nor holds it; 409 while no study has arrived for the case.
    """,
)
def share(case_id: int) -> tuple[Response, int]:
    user = current_user()
    case = case_for(g.db, user, case_id)
    if not may_share(case, user):  # before the body: who asks is answered first
        raise Forbidden(FORBIDDEN)
    given = validated(ShareInput, body())
    link, token = create_share(g.db, case, user, given.expires_in_s, given.deidentify)
    audit("share.create", f"case:{case.id}", described(link))
    g.db.commit()
    base = services().settings.public_url
    return jsonify(
        {
            "token": token,
            "url": page_url(base, token),
            "dicomweb_root": dicomweb_root(base, token),
            "expires_at": iso(link.expires_at),
            "deidentify": link.deidentify,
        }
    ), 201


@bp.delete("/shares/<token>")
@operation(
    "cases",
    "Revoke a share link (its creator, the case's site, a coordinator)",
    {204: Reply("revoked: its page and DICOMweb root answer 404 from now on")},
    errors=(403, 404),
)
def revoke(token: str) -> tuple[str, int]:
    share = revoke_share(g.db, token, current_user())
    audit("share.revoke", f"case:{share.case_id}", f"share:{share.id}")
    g.db.commit()
    return "", 204
