"""An expert's own settings: how Garde reaches them (phone, language of their SMS, SMS on or
off, a test message to check it all) and the zone their shifts are shown in."""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from temporalio.service import RPCError
from werkzeug.wrappers.response import Response

from garde.domain import Role
from garde.errors import InvalidInput, Unavailable
from garde.messages import TEST_MESSAGE, PersonText
from garde.models import Expert
from garde.reachability import OPTED_OUT
from garde.registry import update_expert
from garde.temporal import start_texting
from web import display, i18n, services
from web.access import current_user, roles
from web.audit import audit
from web.case_actions import SERVER_WAIT

bp = Blueprint("expert_settings", __name__, url_prefix="/expert")
display.install(bp)

FIELDS = ("phone", "language", "sms_enabled", "timezone")
CLICK = re.compile(r"[0-9a-f]{16}")


@bp.get("/settings")
@roles(Role.EXPERT)
def page() -> str:
    return _page({})


@bp.post("/settings")
@roles(Role.EXPERT)
def save() -> Response | tuple[str, int]:
    values = {k: v for k, v in request.form.items() if k in FIELDS}
    me = _me()
    try:
        update_expert(g.db, me, values)
    except InvalidInput as e:
        g.db.rollback()
        return _page(values, e.fields), 400
    audit("expert.settings", f"expert:{me.code}", ", ".join(f"{k}={v}" for k, v in values.items()))
    g.db.commit()
    flash(_("Settings saved."), "info")
    return redirect(url_for("expert_settings.page"))


@bp.post("/settings/test-message")
@roles(Role.EXPERT)
def test_message() -> Response:
    """One test SMS per click: the page gives its button a fresh `click` token, so a double
    click (the same token twice) sends once and a click on the page shown again sends anew."""
    me = _me()
    click = request.form.get("click", "")
    if not CLICK.fullmatch(click):
        flash(
            _("Not sent: click must be the token of the page's button; reload the page."), "error"
        )
        return redirect(url_for("expert_settings.page"))
    key = f"test-message-{me.id}-{click}"
    texts = [PersonText(key=key, kind=TEST_MESSAGE, expert_id=me.id)]
    try:
        services().temporal.run(lambda c: start_texting(c, key, texts), timeout=SERVER_WAIT)
    except (Unavailable, RPCError):
        flash(
            _(
                "The test message was not sent: Garde cannot reach its workflow server just "
                "now. Please try again in a few minutes."
            ),
            "error",
        )
        return redirect(url_for("expert_settings.page"))
    audit("expert.test_message", f"expert:{me.code}")
    g.db.commit()
    flash(_("A test message is on its way to %(phone)s.", phone=me.phone), "info")
    return redirect(url_for("expert_settings.page"))


def _me() -> Expert:
    expert = current_user().expert
    assert expert is not None, "an expert login always has an expert"
    return expert


def _page(values: dict[str, Any], errors: dict[str, str] | None = None) -> str:
    me = _me()
    return render_template(
        "expert/settings.html",
        me=me,
        stopped=me.sms_unreachable_reason in OPTED_OUT,
        languages=i18n.NAMES,
        click=secrets.token_hex(8),
        values=values,
        errors=errors or {},
    )
