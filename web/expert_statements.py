"""An expert's own statements: the last twelve months with their reads and share, each to
download as PDF or CSV (the API's statement, in the expert's language)."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask_babel import get_locale

from billing.months import month_of
from billing.statement_documents import month_name
from billing.statements import recent_statements
from garde.domain import Role
from garde.models import utcnow
from web import display
from web.access import current_user, roles

bp = Blueprint("expert_statements", __name__, url_prefix="/expert")
display.install(bp)

MONTHS = 12


@bp.get("/statements")
@roles(Role.EXPERT)
def page() -> str:
    me = current_user().expert
    assert me is not None, "an expert login always has an expert"
    current = month_of(utcnow(), me.timezone)
    return render_template(
        "expert/statements.html",
        me=me,
        current=current,
        statements=[
            (s, _month_name(s.month)) for s in recent_statements(g.db, me, current, MONTHS)
        ],
    )


def _month_name(month: str) -> str:
    """`Mars 2026`, `March 2026`: a month alone begins with a capital, in French too."""
    name = month_name(month, str(get_locale() or "en"))
    return name[:1].upper() + name[1:]
