"""The coordinator's protocol library page (/coordinator/protocols): the protocols a
validating expert picks from, added, edited and deactivated through garde.protocols, the
same checks as the API's. A protocol is never deleted: the cases scanned with it keep it."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers.response import Response

from garde.domain import STAFF
from garde.errors import InvalidInput, NotFound
from garde.models import Protocol
from garde.protocols import FIELDS, by_code, create_protocol, protocols, update_protocol
from garde.vocabulary import MODALITIES
from web.access import roles
from web.audit import audit
from web.coordinator import bp


@bp.get("/protocols")
@roles(*STAFF)
def protocol_library() -> str:
    return _library({"modality": "CT"})


@bp.post("/protocols")
@roles(*STAFF)
def add_protocol() -> Response | tuple[str, int]:
    values = _typed(("code", *FIELDS))
    try:
        protocol = create_protocol(g.db, values | {"active": True})
    except InvalidInput as e:
        g.db.rollback()
        return _library(values, e.fields), 400
    audit("protocol.add", f"protocol:{protocol.code}")
    g.db.commit()
    flash(_("Protocol %(code)s added to the library.", code=protocol.code), "info")
    return redirect(url_for("coordinator.protocol_library"))


@bp.route("/protocols/<code>", methods=["GET", "POST"])
@roles(*STAFF)
def protocol(code: str) -> str | Response | tuple[str, int]:
    found = _coded(code)
    stored = {name: getattr(found, name) for name in FIELDS if name != "active"}
    if request.method == "GET":
        return _form(found, stored)
    values = _typed(tuple(stored))
    changed = {k: v for k, v in values.items() if v != stored[k]}
    try:
        update_protocol(found, changed)
    except InvalidInput as e:
        g.db.rollback()
        return _form(found, values, e.fields), 400
    if changed:
        audit("protocol.change", f"protocol:{code}", ", ".join(sorted(changed)))
        g.db.commit()
    flash(
        _("Protocol %(code)s saved.", code=code) if changed else _("Nothing was changed."), "info"
    )
    return redirect(url_for("coordinator.protocol_library"))


@bp.post("/protocols/<code>/active")
@roles(*STAFF)
def protocol_active(code: str) -> Response:
    """Deactivate (no longer offered to validating experts), or offer it again."""
    found = _coded(code)
    active = request.form.get("active") == "true"
    if found.active != active:
        update_protocol(found, {"active": active})
        audit("protocol.change", f"protocol:{code}", "active" if active else "inactive")
        g.db.commit()
    if active:
        flash(_("Protocol %(code)s is offered again.", code=code), "info")
    else:
        flash(
            _("Protocol %(code)s is no longer offered; cases that used it keep it.", code=code),
            "info",
        )
    return redirect(url_for("coordinator.protocol_library"))


def _coded(code: str) -> Protocol:
    found = by_code(g.db, code)
    if found is None:
        raise NotFound(f"no protocol {code}")
    return found


def _typed(names: tuple[str, ...]) -> dict[str, Any]:
    return {name: request.form.get(name, "").strip() for name in names if name != "active"}


def _library(values: dict[str, Any], errors: dict[str, str] | None = None) -> str:
    return render_template(
        "coordinator/protocols.html",
        protocols=protocols(g.db),
        values=values,
        errors=errors or {},
        modalities=MODALITIES,
    )


def _form(found: Protocol, values: dict[str, Any], errors: dict[str, str] | None = None) -> str:
    return render_template(
        "coordinator/protocol_form.html",
        protocol=found,
        values=values,
        errors=errors or {},
        modalities=MODALITIES,
    )
