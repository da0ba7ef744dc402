"""Logins and API tokens: passwords hashed by werkzeug, tokens stored as SHA-256 only."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from garde.domain import Role
from garde.errors import InvalidInput
from garde.models import ApiToken, Expert, Site, User


def add_user(
    session: Session,
    username: str,
    password: str,
    role: Role,
    site_code: str | None = None,
    expert_code: str | None = None,
) -> User:
    errors: dict[str, str] = {}
    if session.scalar(select(User.id).where(User.username == username)):
        errors["username"] = "is already taken"
    if len(password) < 8:
        errors["password"] = "must be at least 8 characters"
    site = expert = None
    if role is Role.SITE:
        site = session.scalar(select(Site).where(Site.code == (site_code or "")))
        if site is None:
            errors["site"] = "a site user needs --site with an existing site code"
    if role is Role.EXPERT:
        expert = session.scalar(select(Expert).where(Expert.code == (expert_code or "")))
        if expert is None:
            errors["expert"] = "an expert user needs --expert with an existing expert code"
    if errors:
        raise InvalidInput(errors)
    user = User(
        username=username,
        password_hash=generate_password_hash(password),
        role=role,
        site_id=site.id if site else None,
        expert_id=expert.id if expert else None,
    )
    session.add(user)
    session.flush()
    return user


def check_login(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not check_password_hash(user.password_hash, password):
        return None
    return user


def create_token(session: Session, user: User) -> str:
    token = "gt_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_hash(token)))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    return row.user if row else None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
