"""A logged-in user's own account: changing their password, which ends their other sessions."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers.response import Response

from garde.accounts import change_password
from garde.domain import Role
from garde.errors import InvalidInput
from garde.passwords import MIN_LENGTH
from web.access import current_user, roles
from web.audit import audit

bp = Blueprint("account", __name__, url_prefix="/account")
EVERYONE = tuple(Role)


@bp.get("/password")
@roles(*EVERYONE)
def password_page() -> str:
    return _page({})


@bp.post("/password")
@roles(*EVERYONE)
def change() -> Response | tuple[str, int]:
    me = current_user()
    form = request.form
    try:
        change_password(
            g.db,
            me,
            form.get("current_password", ""),
            form.get("new_password", ""),
            form.get("new_password_again", ""),
        )
    except InvalidInput as e:
        g.db.rollback()
        return _page(e.fields), 400
    audit("user.password", f"user:{me.username}")
    g.db.commit()
    session["epoch"] = me.session_epoch  # this session goes on; every other one has ended
    flash(_("Password changed. Your other sessions were logged out."), "info")
    return redirect(url_for("account.password_page"))


def _page(errors: dict[str, str]) -> str:
    return render_template("account/password.html", errors=errors, min_length=MIN_LENGTH)
