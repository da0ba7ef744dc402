"""Login and logout for the web pages; the API uses bearer tokens instead."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from werkzeug.wrappers.response import Response

from garde.accounts import check_login, end_sessions
from garde.domain import Role
from web import forms, i18n
from web.audit import audit
from web.login_limits import per_account, per_address, seconds_until_retry
from web.safe_redirect import local_path

bp = Blueprint("auth", __name__)
forms.protect(bp)  # every HTML form of the app, login and logout included

HOME = {
    Role.SITE: "site.cases",
    Role.EXPERT: "expert.worklist",
    Role.COORDINATOR: "coordinator.board",
    Role.ADMIN: "coordinator.board",
}


@bp.route("/login", methods=["GET", "POST"])
@per_account
@per_address
def login() -> str | Response:
    if request.method == "POST":
        user = check_login(g.db, request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            flash(_("Unknown username or wrong password."), "error")
            return render_template("login.html"), 401  # type: ignore[return-value]
        i18n.clear_session()
        session["user_id"] = user.id
        session["epoch"] = user.session_epoch
        g.user = user  # the audit (and the admin's list of logins) says who, when, from where
        audit("user.login", f"user:{user.username}")
        g.db.commit()
        # Only local paths: an open redirect would hand sessions to anyone.
        target = local_path(request.args.get("next", "")) or url_for(HOME[Role(user.role)])
        return redirect(target)
    return render_template("login.html")


@bp.errorhandler(RateLimitExceeded)
def too_many_failed_logins(_e: RateLimitExceeded) -> tuple[str, int, dict[str, str]]:
    """The form again, saying why and when to retry."""
    flash(_("Too many failed logins; wait a few minutes before trying again."), "error")
    return render_template("login.html"), 429, {"Retry-After": str(seconds_until_retry())}


@bp.post("/logout")
def logout() -> Response:
    """Ends every session of this user, so a copy of the cookie is worth nothing."""
    user = g.get("user")
    if user is not None:
        end_sessions(g.db, user)
        g.db.commit()
    i18n.clear_session()
    return redirect(url_for("auth.login"))


@bp.get("/")
def home() -> Response:
    user = g.get("user")
    if user is None:
        return redirect(url_for("auth.login"))
    return redirect(url_for(HOME[Role(user.role)]))
