"""Logins and API tokens: passwords hashed by werkzeug, tokens stored as SHA-256 only.

Sessions are revoked without a session table: each user has an epoch, copied into the cookie
at login and bumped on logout, password change and disable; a cookie of an older epoch logs
nobody in. Tokens expire and can be revoked; a disabled user's tokens stop working at once.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from garde.domain import Role
from garde.errors import InvalidInput, NotAuthenticated, NotFound
from garde.models import ApiToken, Expert, Site, User, utcnow
from garde.passwords import password_problem
from garde.settings import Settings
from garde.validation import CONTROL

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


def add_user(
    session: Session,
    username: str,
    password: str,
    role: Role,
    site_code: str | None = None,
    expert_code: str | None = None,
    *,
    demo: bool = False,
) -> User:
    """A new login. `demo`: a login of the demo region, whose short password is published; it
    skips the password policy and is marked as demo. Only the demo loader says so."""
    errors: dict[str, str] = {}
    if session.scalar(select(User.id).where(User.username == username)):
        errors["username"] = "is already taken"
    if not demo and (problem := password_problem(password, username)):
        errors["password"] = problem
    if CONTROL.search(username) or not USERNAME.fullmatch(username):
        errors["username"] = (
            "must be 1 to 64 letters, digits, or . _ - @, starting with a letter or digit"
        )
    site, expert = _links(session, role, site_code, expert_code, errors)
    if errors:
        raise InvalidInput(errors)
    user = User(
        username=username,
        password_hash=generate_password_hash(password),
        role=role,
        site_id=site.id if site else None,
        expert_id=expert.id if expert else None,
        demo=demo,
    )
    session.add(user)
    session.flush()
    return user


def change_role(
    session: Session,
    user: User,
    role: Role,
    site_code: str | None = None,
    expert_code: str | None = None,
) -> None:
    """Give the login another role, linked to the site or expert that role needs; its
    sessions end, so no page goes on showing what the old role saw."""
    errors: dict[str, str] = {}
    site, expert = _links(session, role, site_code, expert_code, errors)
    if errors:
        raise InvalidInput(errors)
    user.role = role
    user.site_id = site.id if site else None
    user.expert_id = expert.id if expert else None
    end_sessions(session, user)


def _links(
    session: Session,
    role: Role,
    site_code: str | None,
    expert_code: str | None,
    errors: dict[str, str],
) -> tuple[Site | None, Expert | None]:
    """The site a site login belongs to, the expert an expert login is; other roles have
    neither. Missing or unknown ones are added to `errors`."""
    site = expert = None
    if role is Role.SITE:
        site = session.scalar(select(Site).where(Site.code == (site_code or "")))
        if site is None:
            errors["site"] = "must be the code of an existing site: a site login needs one"
    if role is Role.EXPERT:
        expert = session.scalar(select(Expert).where(Expert.code == (expert_code or "")))
        if expert is None:
            errors["expert"] = "must be the code of an existing expert: an expert login needs one"
    return site, expert


def check_login(session: Session, username: str, password: str) -> User | None:
    """The user if the password is theirs and they are not disabled. An unknown username
    costs one hash check too, so the time taken does not tell which usernames exist."""
    # No username holds a control character, and PostgreSQL refuses a NUL even in a query.
    user = (
        None
        if CONTROL.search(username)
        else session.scalar(select(User).where(User.username == username))
    )
    matches = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    if user is None or not matches or user.disabled_at is not None:
        return None
    return user


def user_for_session(session: Session, user_id: int, epoch: object) -> User | None:
    """The user a session cookie names, if the cookie is of their current epoch."""
    user = session.get(User, user_id)
    if user is None or user.disabled_at is not None or epoch != user.session_epoch:
        return None
    return user


def end_sessions(session: Session, user: User) -> None:
    """Every session cookie handed out to this user so far stops working."""
    session.execute(
        update(User).where(User.id == user.id).values(session_epoch=User.session_epoch + 1)
    )


def change_password(session: Session, user: User, current: str, new: str, new_again: str) -> None:
    """Set a new password (the policy holds) and end every other session of this user."""
    errors: dict[str, str] = {}
    if not check_password_hash(user.password_hash, current):
        errors["current_password"] = "is not your current password"
    if problem := password_problem(new, user.username):
        errors["new_password"] = problem
    elif new == current:
        errors["new_password"] = "must differ from the current password"
    if new != new_again:
        errors["new_password_again"] = "does not match the new password"
    if errors:
        raise InvalidInput(errors)
    user.password_hash = generate_password_hash(new)
    end_sessions(session, user)


def reset_password(session: Session, user: User, new: str) -> None:
    """An admin sets a new password (the policy holds); every session of the user ends."""
    if problem := password_problem(new, user.username):
        raise InvalidInput({"password": problem})
    user.password_hash = generate_password_hash(new)
    end_sessions(session, user)


def set_disabled(session: Session, username: str, disabled: bool) -> User:
    """Disable a login (its sessions and tokens stop working at once) or enable it again."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username}")
    user.disabled_at = utcnow() if disabled else None
    end_sessions(session, user)
    return user


def create_token(
    session: Session, user: User, lifetime: timedelta = Settings.token_lifetime
) -> str:
    token = "gt_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_hash(token), expires_at=utcnow() + lifetime))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User:
    """The token's user; NotAuthenticated saying why if the token may not be used."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if row is None:
        raise NotAuthenticated("the API token is not valid")
    if row.revoked_at is not None:
        raise NotAuthenticated("the API token was revoked")
    if row.expires_at <= utcnow():
        raise NotAuthenticated("the API token has expired")
    if row.user.disabled_at is not None:
        raise NotAuthenticated("the API token's user is disabled")
    return row.user


def revoke_token(session: Session, token: str) -> None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if row is None:
        raise NotFound("no such API token")
    row.revoked_at = row.revoked_at or utcnow()


def revoke_user_tokens(session: Session, username: str) -> int:
    """Revoke every live token of this user; how many were."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username}")
    now = utcnow()
    live = session.scalars(
        select(ApiToken).where(
            ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now
        )
    ).all()
    for row in live:
        row.revoked_at = now
    return len(live)


def revoke_token_by_id(session: Session, user: User, token_id: int) -> None:
    """Revoke one of this user's tokens, named by its row (pages never see the secret)."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound(f"no API token {token_id} of {user.username}")
    row.revoked_at = row.revoked_at or utcnow()


@functools.cache
def _dummy_hash() -> str:
    """A hash of nothing anyone knows, made like real ones so it takes as long to check."""
    return generate_password_hash(secrets.token_urlsafe(32))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
