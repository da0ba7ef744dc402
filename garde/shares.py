"""Share links: a doctor in town reads one study of a case, and its final report, for a
while, without a login. The link's token is a capability in its URL (the page at
/share/TOKEN, the read-only DICOMweb root at /share/TOKEN/dicomweb); only its SHA-256 is
kept, so a leaked table opens nothing. Expiry and revocation hold from the next request:
every use asks `is_live`. Every use is recorded (`record_access`), refused ones too, for the
site and the coordinators to see who read what, and when.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from garde.domain import STAFF, Role
from garde.errors import Conflict, Forbidden, NotFound
from garde.models import Case, ShareAccess, ShareLink, Study, User, utcnow

# What the API and the pages let a person choose; a test may make a shorter link directly.
MIN_EXPIRES_IN_S = 5 * 60
MAX_EXPIRES_IN_S = 90 * 24 * 3600
FORBIDDEN = "only the case's site or the expert holding it share its study"
# How many of a link's accesses a case page lists, the latest; it counts them all.
ACCESSES_SHOWN = 50


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def page_url(public_url: str, token: str) -> str:
    """The page a doctor in town opens: the report and the viewer link."""
    return f"{public_url}/share/{token}"


def dicomweb_root(public_url: str, token: str) -> str:
    """The link's read-only DICOMweb root, for a viewer (web/dicomweb_read.py serves it)."""
    return f"{page_url(public_url, token)}/dicomweb"


def share_key(share: ShareLink, secret_key: str) -> bytes:
    """The key of a de-identified share's new UIDs (dicom.deidentify.new_uid): its own per
    share, so two links to one study cannot be matched, and made with the app's secret, so
    no one holding only the table can turn new UIDs back into the originals."""
    return hmac.new(secret_key.encode(), share.token_hash.encode(), hashlib.sha256).digest()


def may_share(case: Case, user: User) -> bool:
    """The case's site, or the expert holding it: those who answer for who else reads it."""
    role = Role(user.role)
    if role is Role.SITE:
        return user.site_id == case.site_id
    held = user.expert_id is not None and case.assigned_expert_id == user.expert_id
    return role is Role.EXPERT and held


def shared_study(case: Case) -> Study:
    """The study a link to this case opens: the one the request named, else the first to
    arrive. 409 while none has arrived: a link is to images."""
    studies = case.studies
    if not studies:
        raise Conflict(
            "the case has no study yet: a share link opens its images, send them first",
            {"case": "has no study"},
        )
    named = [s for s in studies if s.study_instance_uid == case.study_instance_uid]
    return (named or studies)[0]


def create_share(
    s: Session, case: Case, user: User, expires_in_s: int, deidentify: bool
) -> tuple[ShareLink, str]:
    """A new link to the case's study and the token that opens it, shown once: only its
    hash is kept. Added to the session; the caller commits with its audit entry."""
    if not may_share(case, user):
        raise Forbidden(FORBIDDEN)
    if expires_in_s <= 0:
        raise ValueError("a share link lasts a positive number of seconds")
    study = shared_study(case)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    link = ShareLink(
        token_hash=token_hash(token),
        case_id=case.id,
        study_id=study.id,
        created_by_id=user.id,
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in_s),
        deidentify=deidentify,
    )
    s.add(link)
    s.flush()
    return link, token


def described(share: ShareLink) -> str:
    """What the audit log says of a link: its id and terms, never its token."""
    terms = f"share:{share.id} until {share.expires_at.isoformat()}"
    return terms + (", de-identified" if share.deidentify else "")


def find_share(s: Session, token: str) -> ShareLink | None:
    """The link this token opened, live or not (None: no such token): a use of a link
    expired or revoked is refused (404, as for an unknown token: `is_live`) and recorded."""
    return s.scalar(select(ShareLink).where(ShareLink.token_hash == token_hash(token)))


def is_live(share: ShareLink) -> bool:
    return share.revoked_at is None and utcnow() < share.expires_at


def may_revoke(share: ShareLink, case: Case, user: User) -> bool:
    """Its creator, the case's site, or a coordinator (or admin)."""
    role = Role(user.role)
    return (
        role in STAFF
        or share.created_by_id == user.id
        or (role is Role.SITE and user.site_id == case.site_id)
    )


def revoke(s: Session, share: ShareLink, user: User) -> None:
    """Revoked from now on (the next request is refused); revoking twice changes nothing.
    The caller commits with its audit entry."""
    case = s.get_one(Case, share.case_id)
    if not may_revoke(share, case, user):
        raise Forbidden("only the link's creator, the case's site or a coordinator revoke it")
    if share.revoked_at is None:
        share.revoked_at = utcnow()


def revoke_share(s: Session, token: str, user: User) -> ShareLink:
    """`revoke` the link of this token; 404 when no link has it."""
    share = find_share(s, token)
    if share is None:
        raise NotFound("no share link has this token")
    revoke(s, share, user)
    return share


def record_access(
    s: Session, share: ShareLink, what: str, status: int, address: str | None
) -> None:
    """One use of the link: what was read ("page", "report", "qido", "wado", ...), how it was
    answered and from where. Committed at once, whatever the request does next: an access is
    on record even when its answer then fails."""
    s.add(
        ShareAccess(
            share_id=share.id,
            at=utcnow(),
            address=(address or "")[:64] or None,
            what=what[:32],
            status=status,
        )
    )
    s.commit()


@dataclass(frozen=True)
class ShareSummary:
    """A link as a case page lists it: never its token (only its creator saw it, once)."""

    share: ShareLink
    created_by: str | None
    access_count: int
    accesses: list[ShareAccess]

    @property
    def live(self) -> bool:
        return is_live(self.share)


def case_shares(s: Session, case_id: int, *, with_accesses: bool = False) -> list[ShareSummary]:
    """The case's links, newest first, each with its number of accesses (and, for a
    coordinator, the latest accesses themselves, newest first: a viewer opening a study
    makes one per image it reads)."""
    links = s.scalars(
        select(ShareLink).where(ShareLink.case_id == case_id).order_by(ShareLink.id.desc())
    ).all()
    ids = [link.id for link in links]
    counts: dict[int, int] = {
        share_id: count
        for share_id, count in s.execute(
            select(ShareAccess.share_id, func.count())
            .where(ShareAccess.share_id.in_(ids))
            .group_by(ShareAccess.share_id)
        )
    }
    by_link: dict[int, list[ShareAccess]] = {}
    if with_accesses:
        for share_id in ids:
            by_link[share_id] = list(
                s.scalars(
                    select(ShareAccess)
                    .where(ShareAccess.share_id == share_id)
                    .order_by(ShareAccess.id.desc())
                    .limit(ACCESSES_SHOWN)
                )
            )
    made_by = [link.created_by_id for link in links if link.created_by_id]
    creators: dict[int, str] = {
        user_id: username
        for user_id, username in s.execute(
            select(User.id, User.username).where(User.id.in_(made_by))
        )
    }
    return [
        ShareSummary(
            link,
            creators.get(link.created_by_id) if link.created_by_id else None,
            counts.get(link.id, 0),
            by_link.get(link.id, []),
        )
        for link in links
    ]
