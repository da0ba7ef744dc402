"""An expert's own macros: pieces of text they insert in their reports by a short name (the
report form puts one in at the cursor). Each expert sees and changes only their own."""

from __future__ import annotations

from typing import Annotated, Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers.response import Response

from garde.domain import Role
from garde.errors import InvalidInput, NotFound
from garde.models import ExpertMacro
from garde.validation import Input, text, validated
from web.access import current_user, roles

bp = Blueprint("expert_macros", __name__, url_prefix="/expert/settings/macros")


class MacroInput(Input):
    name: Annotated[str, text(64, description="a short name of the expert's own")]
    body: Annotated[str, text(5000, description="the text inserted in a report")]


@bp.get("")
@roles(Role.EXPERT)
def page() -> str:
    return _page()


@bp.post("")
@roles(Role.EXPERT)
def add() -> Response | tuple[str, int]:
    values = request.form.to_dict()
    try:
        given = _checked(values, None)
    except InvalidInput as e:
        return _page(new=values, errors=e.fields), 400
    g.db.add(ExpertMacro(expert_id=_me(), name=given.name, body=given.body))
    g.db.commit()
    flash(_("Macro “%(name)s” added.", name=given.name), "info")
    return redirect(url_for("expert_macros.page"))


@bp.post("/<int:macro_id>")
@roles(Role.EXPERT)
def edit(macro_id: int) -> Response | tuple[str, int]:
    macro = _mine(macro_id)
    values = request.form.to_dict()
    try:
        given = _checked(values, macro)
    except InvalidInput as e:
        return _page(editing=macro.id, values=values, errors=e.fields), 400
    macro.name, macro.body = given.name, given.body
    g.db.commit()
    flash(_("Macro “%(name)s” saved.", name=given.name), "info")
    return redirect(url_for("expert_macros.page"))


@bp.post("/<int:macro_id>/delete")
@roles(Role.EXPERT)
def delete(macro_id: int) -> Response:
    macro = _mine(macro_id)
    g.db.delete(macro)
    g.db.commit()
    flash(_("Macro “%(name)s” deleted.", name=macro.name), "info")
    return redirect(url_for("expert_macros.page"))


def _me() -> int:
    expert_id = current_user().expert_id
    assert expert_id is not None, "an expert login always has an expert"
    return expert_id


def _mine(macro_id: int) -> ExpertMacro:
    """The macro if it is this expert's; another's is as absent as one that never was."""
    macro = g.db.get(ExpertMacro, macro_id)
    if macro is None or macro.expert_id != _me():
        raise NotFound(f"no macro {macro_id}")
    return macro


def _checked(values: dict[str, Any], macro: ExpertMacro | None) -> MacroInput:
    given = validated(MacroInput, values)
    taken = g.db.scalar(
        select(ExpertMacro.id).where(ExpertMacro.expert_id == _me(), ExpertMacro.name == given.name)
    )
    if taken is not None and (macro is None or taken != macro.id):
        raise InvalidInput({"name": "is already the name of another of your macros"})
    return given


def _page(
    new: dict[str, Any] | None = None,
    editing: int | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> str:
    macros = g.db.scalars(
        select(ExpertMacro).where(ExpertMacro.expert_id == _me()).order_by(ExpertMacro.name)
    ).all()
    return render_template(
        "expert/macros.html",
        macros=macros,
        new=new or {},
        editing=editing,
        values=values or {},
        errors=errors or {},
    )
