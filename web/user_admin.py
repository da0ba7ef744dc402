"""What an admin does to logins, for the API and the admin pages alike: each action checked,
done and audited here once. An admin cannot lock themselves out (disable their own login or
take away their own admin role): someone must be left to let them in again."""

from __future__ import annotations

from datetime import timedelta

from flask import g
from sqlalchemy import select

from garde import accounts
from garde.domain import Role
from garde.errors import Conflict, InvalidInput, NotFound
from garde.models import User
from web import services
from web.access import current_user
from web.audit import audit


def user_named(username: str) -> User:
    user = g.db.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username}")
    return user


def add_user(
    username: str, password: str, role: str, site_code: str | None, expert_code: str | None
) -> User:
    """A new login; the password policy holds (InvalidInput naming the field otherwise)."""
    chosen = _role(role)
    user = accounts.add_user(g.db, username, password, chosen, site_code, expert_code)
    audit("user.create", f"user:{username}", f"role={chosen.value}")
    g.db.commit()
    return user


def set_disabled(username: str, disabled: bool) -> User:
    """Disable a login (its sessions and tokens stop at once) or let it in again."""
    if disabled and username == current_user().username:
        raise Conflict("an admin cannot disable their own login", {"username": "is yours"})
    user = accounts.set_disabled(g.db, username, disabled)
    audit("user.disable" if disabled else "user.enable", f"user:{username}")
    g.db.commit()
    return user


def reset_password(user: User, new: str) -> None:
    """Set the password a user forgot; every session of theirs ends."""
    accounts.reset_password(g.db, user, new)
    audit("user.password_reset", f"user:{user.username}")
    g.db.commit()


def change_role(user: User, role: str, site_code: str | None, expert_code: str | None) -> None:
    chosen = _role(role)
    if user.id == current_user().id and chosen is not Role.ADMIN:
        raise Conflict("an admin cannot take away their own admin role", {"role": "is yours"})
    before = user.role
    accounts.change_role(g.db, user, chosen, site_code, expert_code)
    audit("user.role", f"user:{user.username}", f"{before} -> {chosen.value}")
    g.db.commit()


def issue_token(user: User, days: float | None = None) -> str:
    """A new API token for the user: the secret, to be shown once (only its hash is kept).
    A disabled login gets none: the token could not be used, and would wake with the login."""
    if user.disabled_at is not None:
        raise Conflict(
            "a disabled login cannot get an API token", {"username": "is disabled; enable it first"}
        )
    lifetime = timedelta(days=days) if days else services().settings.token_lifetime
    secret = accounts.create_token(g.db, user, lifetime)
    audit("token.create", f"user:{user.username}", f"expires in {lifetime.days} days")
    g.db.commit()
    return secret


def revoke_token(user: User, token_id: int) -> None:
    accounts.revoke_token_by_id(g.db, user, token_id)
    audit("token.revoke", f"user:{user.username}", f"token {token_id}")
    g.db.commit()


def revoke_tokens(user: User) -> int:
    """Revoke every live token of the user; how many were."""
    count = accounts.revoke_user_tokens(g.db, user.username)
    audit("token.revoke_all", f"user:{user.username}", f"{count} revoked")
    g.db.commit()
    return count


def _role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise InvalidInput({"role": "must be one of " + ", ".join(r.value for r in Role)}) from None
