"""Logins in the browser: the list, a new login, and one login's page where an admin changes
its role, sets a new password, disables or enables it, and manages its API tokens. Every
action goes through web/user_admin, as the API's do."""

from __future__ import annotations

from typing import Annotated, Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.wrappers.response import Response

from garde.domain import Role
from garde.errors import Conflict, InvalidInput
from garde.models import ApiToken, AuditEvent, Expert, Site, User, utcnow
from garde.passwords import MIN_LENGTH
from garde.validation import Input, between, validated
from web import user_admin
from web.admin import bp

NEW_USER_FIELDS = ("username", "role", "site", "expert")


@bp.get("/")
def index() -> Response:
    return redirect(url_for("admin.users"))


@bp.get("/users")
def users() -> str:
    now = utcnow()
    live_tokens = dict(
        g.db.execute(
            select(ApiToken.user_id, func.count())
            .where(ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)
            .group_by(ApiToken.user_id)
        ).all()
    )
    # A login is audited as the user's own action (web/auth_views): the newest is the last.
    last_logins = dict(
        g.db.execute(
            select(AuditEvent.actor, func.max(AuditEvent.at))
            .where(AuditEvent.action == "user.login")
            .group_by(AuditEvent.actor)
        ).all()
    )
    return render_template(
        "admin/users.html",
        users=g.db.scalars(select(User).order_by(User.username)).all(),
        live_tokens=live_tokens,
        last_logins=last_logins,
    )


@bp.route("/users/new", methods=["GET", "POST"])
def new_user() -> str | Response | tuple[str, int]:
    if request.method == "GET":
        return _new_user_page({"role": Role.SITE.value}, {})
    form = request.form
    values = {k: form.get(k, "").strip() for k in NEW_USER_FIELDS}
    try:
        user = user_admin.add_user(
            values["username"],
            form.get("password", ""),
            values["role"],
            values["site"] or None,
            values["expert"] or None,
        )
    except InvalidInput as e:
        g.db.rollback()
        return _new_user_page(values, e.fields), 400
    flash(_("Login %(username)s created.", username=user.username), "info")
    return redirect(url_for("admin.user", username=user.username))


@bp.get("/users/<username>")
def user(username: str) -> str:
    return _user_page(user_admin.user_named(username))


@bp.post("/users/<username>/role")
def change_role(username: str) -> Response | tuple[str, int]:
    user = user_admin.user_named(username)
    form = request.form
    try:
        user_admin.change_role(
            user, form.get("role", ""), form.get("site") or None, form.get("expert") or None
        )
    except InvalidInput as e:
        g.db.rollback()
        return _user_page(user, e.fields, form.to_dict()), 400
    except Conflict as e:
        flash(e.message, "error")
        return redirect(url_for("admin.user", username=username))
    flash(
        _(
            "%(username)s is now %(role)s; their open sessions were ended.",
            username=username,
            role=user.role,
        ),
        "info",
    )
    return redirect(url_for("admin.user", username=username))


@bp.post("/users/<username>/password")
def reset_password(username: str) -> Response | tuple[str, int]:
    user = user_admin.user_named(username)
    try:
        user_admin.reset_password(user, request.form.get("password", ""))
    except InvalidInput as e:
        g.db.rollback()
        return _user_page(user, e.fields), 400
    flash(
        _("New password set for %(username)s; their open sessions were ended.", username=username),
        "info",
    )
    return redirect(url_for("admin.user", username=username))


@bp.post("/users/<username>/disable")
def disable(username: str) -> Response:
    try:
        user_admin.set_disabled(username, True)
    except Conflict as e:
        flash(e.message, "error")
    else:
        flash(
            _(
                "%(username)s is disabled: their sessions and API tokens stopped working.",
                username=username,
            ),
            "info",
        )
    return redirect(url_for("admin.user", username=username))


@bp.post("/users/<username>/enable")
def enable(username: str) -> Response:
    user_admin.set_disabled(username, False)
    flash(_("%(username)s may log in again.", username=username), "info")
    return redirect(url_for("admin.user", username=username))


class TokenInput(Input):
    days: Annotated[int, between(1, 3650, description="days until it expires")] | None = None


@bp.post("/users/<username>/tokens")
def create_token(username: str) -> str | tuple[str, int]:
    """The secret is on this answer alone: only its hash is kept."""
    user = user_admin.user_named(username)
    try:
        days = validated(TokenInput, request.form).days
    except InvalidInput as e:
        return _user_page(user, e.fields, request.form.to_dict()), 400
    try:
        secret = user_admin.issue_token(user, days)
    except Conflict:
        flash(
            _("%(username)s is disabled: enable the login to create a token.", username=username),
            "error",
        )
        return _user_page(user), 409
    return render_template("admin/token_created.html", user=user, secret=secret)


@bp.post("/users/<username>/tokens/<int:token_id>/revoke")
def revoke_token(username: str, token_id: int) -> Response:
    user_admin.revoke_token(user_admin.user_named(username), token_id)
    flash(_("Token revoked."), "info")
    return redirect(url_for("admin.user", username=username))


@bp.post("/users/<username>/tokens/revoke")
def revoke_tokens(username: str) -> Response:
    count = user_admin.revoke_tokens(user_admin.user_named(username))
    flash(_("Tokens revoked: %(count)s.", count=count), "info")
    return redirect(url_for("admin.user", username=username))


def _choices() -> dict[str, Any]:
    return {
        "roles": [r.value for r in Role],
        "sites": g.db.scalars(select(Site).order_by(Site.code)).all(),
        "experts": g.db.scalars(select(Expert).order_by(Expert.code)).all(),
        "min_length": MIN_LENGTH,
    }


def _new_user_page(values: dict[str, str], errors: dict[str, str]) -> str:
    return render_template("admin/new_user.html", values=values, errors=errors, **_choices())


def _user_page(
    user: User, errors: dict[str, str] | None = None, values: dict[str, str] | None = None
) -> str:
    tokens = g.db.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
    ).all()
    stored = {
        "role": user.role,
        "site": user.site.code if user.site else "",
        "expert": user.expert.code if user.expert else "",
    }
    return render_template(
        "admin/user.html",
        user=user,
        tokens=tokens,
        at=utcnow(),
        values=stored | (values or {}),
        errors=errors or {},
        **_choices(),
    )
