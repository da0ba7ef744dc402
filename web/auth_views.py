"""Login and logout for the web pages; the API uses bearer tokens instead."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers.response import Response

from garde.accounts import check_login
from garde.domain import Role
from web import forms
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
def login() -> str | Response:
    if request.method == "POST":
        user = check_login(g.db, request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            flash("Unknown username or wrong password.", "error")
            return render_template("login.html"), 401  # type: ignore[return-value]
        session.clear()
        session["user_id"] = user.id
        # Only local paths: an open redirect would hand sessions to anyone.
        target = local_path(request.args.get("next", "")) or url_for(HOME[Role(user.role)])
        return redirect(target)
    return render_template("login.html")


@bp.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/")
def home() -> Response:
    user = g.get("user")
    if user is None:
        return redirect(url_for("auth.login"))
    return redirect(url_for(HOME[Role(user.role)]))
