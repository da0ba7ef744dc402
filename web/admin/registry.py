"""Sites and experts in the browser: lists, a form to create one, a form to change one. The
forms are text; they become the API's input and go through web/registry_changes, so a page
and the API check, store and audit a change the same way. A change sends only the fields
that differ from what is stored: open cases look again only when eligibility may change,
and the audit names what changed."""

from __future__ import annotations

import re
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers.response import Response

from garde import vocabulary
from garde.errors import InvalidInput
from garde.models import Credential, Expert, Site
from garde.registry import LANGUAGES, WITH_CREDENTIALS, WITH_TITLES_AND_TARIFFS
from web import registry_changes
from web.admin import bp

SITE_FIELDS = (
    "name",
    "timezone",
    "ae_titles",
    "opens_cases",
    "phone",
    "language",
    "prices",
    "expert_share_percent",
    "study_quiet_s",
    "study_retention_days",
    "move_destinations",
    "report_webhook_url",
    "report_webhook_secret",
    "hl7_endpoint",
    "critical_ack_within_s",
    "hl7_facility",
    "regulation",
    "reroute_after_scan",
)
EXPERT_FIELDS = (
    "name",
    "phone",
    "language",
    "timezone",
    "modalities",
    "subspecialties",
    "sites",
    "max_concurrent",
    "sms_enabled",
    "active",
)
LIST_FIELDS = ("ae_titles", "modalities", "subspecialties")
CHECKBOXES = ("sms_enabled", "active", "regulation", "reroute_after_scan")
PRICE = re.compile(r"^\s*([A-Za-z]+)\s*[=:]?\s*([0-9]+)\s*$")
OPENER = re.compile(r"^\s*([ -~]+?)\s*=\s*([A-Za-z]+)\s*$")
DESTINATION = re.compile(r"^\s*([ -~]+?)\s*=\s*(\S+)\s*$")


@bp.get("/sites")
def sites() -> str:
    found = g.db.scalars(select(Site).options(*WITH_TITLES_AND_TARIFFS).order_by(Site.code)).all()
    return render_template("admin/sites.html", sites=found)


@bp.route("/sites/new", methods=["GET", "POST"])
def new_site() -> str | Response | tuple[str, int]:
    if request.method == "GET":
        return _site_form(None, {"timezone": "Europe/Paris", "language": "fr"})
    values = _form(("code", *SITE_FIELDS))
    try:
        site = registry_changes.add_site(_site_data(values))
    except InvalidInput as e:
        g.db.rollback()
        return _site_form(None, values, e.fields), 400
    flash(_("Site %(code)s created.", code=site.code), "info")
    return redirect(url_for("admin.sites"))


@bp.route("/sites/<code>", methods=["GET", "POST"])
def site(code: str) -> str | Response | tuple[str, int]:
    site = registry_changes.site_coded(code)
    stored = _site_values(site)
    if request.method == "GET":
        return _site_form(site, stored)
    values = _form(SITE_FIELDS)
    changed = {k: v for k, v in values.items() if v != stored[k]}
    try:
        if changed:
            registry_changes.change_site(site, _site_data(changed))
    except InvalidInput as e:
        g.db.rollback()
        return _site_form(site, values, e.fields), 400
    flash(_("Site %(code)s saved.", code=code) if changed else _("Nothing was changed."), "info")
    return redirect(url_for("admin.sites"))


@bp.get("/experts")
def experts() -> str:
    found = g.db.scalars(select(Expert).options(*WITH_CREDENTIALS).order_by(Expert.code)).all()
    return render_template("admin/experts.html", experts=found)


@bp.route("/experts/new", methods=["GET", "POST"])
def new_expert() -> str | Response | tuple[str, int]:
    if request.method == "GET":
        defaults = {"timezone": "Europe/Paris", "language": "fr", "max_concurrent": "2"}
        return _expert_form(None, defaults | {"sms_enabled": "true", "active": "true"})
    values = _form(("code", *EXPERT_FIELDS))
    data = _expert_data(values)
    del data["active"]  # a new expert is active
    try:
        expert = registry_changes.add_expert(data)
    except InvalidInput as e:
        g.db.rollback()
        return _expert_form(None, values, e.fields), 400
    flash(_("Expert %(code)s created.", code=expert.code), "info")
    return redirect(url_for("admin.experts"))


@bp.route("/experts/<code>", methods=["GET", "POST"])
def expert(code: str) -> str | Response | tuple[str, int]:
    expert = registry_changes.expert_coded(code)
    stored = _expert_values(expert)
    if request.method == "GET":
        return _expert_form(expert, stored)
    values = _form(EXPERT_FIELDS)
    changed = {k: v for k, v in values.items() if v != stored[k]}
    data = _expert_data(changed)
    if "sites" in data:
        # The credentials' dates stay for the sites kept (the API sets dates).
        kept = {c.site.code: c for c in expert.credentials}
        data["credentials"] = [_credential(code, kept.get(code)) for code in data.pop("sites")]
    try:
        if data:
            registry_changes.change_expert(expert, data)
    except InvalidInput as e:
        g.db.rollback()
        return _expert_form(expert, values, e.fields), 400
    flash(_("Expert %(code)s saved.", code=code) if data else _("Nothing was changed."), "info")
    return redirect(url_for("admin.experts"))


def _form(names: tuple[str, ...]) -> dict[str, Any]:
    """The form's values as typed: text, the sites ticked (a list), checkboxes as true/false."""
    values: dict[str, Any] = {}
    for name in names:
        if name == "sites":
            values[name] = sorted(request.form.getlist("sites"))
        elif name in CHECKBOXES:
            values[name] = "true" if request.form.get(name) else "false"
        else:
            values[name] = request.form.get(name, "").strip()
    return values


def _site_values(site: Site) -> dict[str, Any]:
    return {
        "name": site.name,
        "timezone": site.timezone,
        "ae_titles": ", ".join(site.ae_titles),
        "phone": site.phone,
        "language": site.language,
        "prices": ", ".join(f"{k}={v}" for k, v in sorted(site.prices.items())),
        "opens_cases": ", ".join(f"{k}={v}" for k, v in site.opens_cases.items()),
        "expert_share_percent": str(site.expert_share_percent),
        "study_quiet_s": str(site.study_quiet_s),
        "study_retention_days": str(site.study_retention_days),
        "move_destinations": ", ".join(f"{k}={v}" for k, v in site.move_destinations.items()),
        "report_webhook_url": site.report_webhook_url,
        "report_webhook_secret": "",  # never shown: a blank field keeps the one stored
        "hl7_endpoint": site.hl7_endpoint,
        "critical_ack_within_s": ", ".join(
            f"{k}={v}" for k, v in sorted(site.critical_ack_within_s.items())
        ),
        "hl7_facility": site.hl7_facility or "",
        "regulation": "true" if site.regulation else "false",
        "reroute_after_scan": "true" if site.reroute_after_scan else "false",
    }


def _expert_values(expert: Expert) -> dict[str, Any]:
    return {
        "name": expert.name,
        "phone": expert.phone,
        "language": expert.language,
        "timezone": expert.timezone,
        "modalities": ", ".join(expert.modalities),
        "subspecialties": ", ".join(expert.subspecialties),
        "sites": sorted(s.code for s in expert.sites),
        "max_concurrent": str(expert.max_concurrent),
        "sms_enabled": "true" if expert.sms_enabled else "false",
        "active": "true" if expert.active else "false",
    }


def _site_data(values: dict[str, Any]) -> dict[str, Any]:
    data = _lists(values)
    if "prices" in data:
        data["prices"] = _prices(data["prices"])
    if "opens_cases" in data:
        data["opens_cases"] = _pairs(data["opens_cases"], OPENER) or None
    if "move_destinations" in data:
        data["move_destinations"] = _pairs(data["move_destinations"], DESTINATION) or None
    if "critical_ack_within_s" in data:
        data["critical_ack_within_s"] = _pairs(data["critical_ack_within_s"], DESTINATION) or None
    if not data.get("report_webhook_secret"):
        data.pop("report_webhook_secret", None)  # blank: the one stored stays
    return data


def _expert_data(values: dict[str, Any]) -> dict[str, Any]:
    return _lists(values)


def _lists(values: dict[str, Any]) -> dict[str, Any]:
    """Lists typed as text, separated by commas or line breaks, become lists."""
    return {
        k: [item.strip() for item in re.split(r"[,\n]", v) if item.strip()]
        if k in LIST_FIELDS
        else v
        for k, v in values.items()
    }


def _prices(text: str) -> Any:
    """`CT=9000, MR=12000` as the API's {"CT": 9000, "MR": 12000}; text in another form goes
    on as it is, for the registry to refuse it, naming the field."""
    pairs = _pairs(text, PRICE)
    return {k: int(v) for k, v in pairs.items()} if isinstance(pairs, dict) else pairs


def _pairs(text: str, pair: re.Pattern[str]) -> Any:
    """`A=x, B=y` as {"A": "x", "B": "y"}, or the text as it is when it is not that."""
    items = [item for item in re.split(r"[,\n]", text) if item.strip()]
    found = [pair.match(item) for item in items]
    if not all(found):
        return text
    return {m.group(1): m.group(2) for m in found if m}


def _credential(code: str, kept: Credential | None) -> dict[str, Any]:
    return {
        "site": code,
        "valid_from": kept.valid_from.isoformat() if kept and kept.valid_from else None,
        "valid_until": kept.valid_until.isoformat() if kept and kept.valid_until else None,
    }


def _site_form(
    site: Site | None, values: dict[str, Any], errors: dict[str, str] | None = None
) -> str:
    return render_template(
        "admin/site_form.html",
        site=site,
        values=values,
        errors=errors or {},
        other_errors=_others(errors, ("code", *SITE_FIELDS)),
        languages=LANGUAGES,
    )


def _expert_form(
    expert: Expert | None, values: dict[str, Any], errors: dict[str, str] | None = None
) -> str:
    return render_template(
        "admin/expert_form.html",
        expert=expert,
        values=values,
        errors=errors or {},
        other_errors=_others(errors, ("code", *EXPERT_FIELDS)),
        languages=LANGUAGES,
        all_sites=g.db.scalars(select(Site).order_by(Site.code)).all(),
        modalities=vocabulary.MODALITIES,
        subspecialties=vocabulary.SUBSPECIALTIES,
    )


def _others(errors: dict[str, str] | None, shown: tuple[str, ...]) -> dict[str, str]:
    """Errors of no field on the form (a credential's dates), said at the top."""
    return {k: v for k, v in (errors or {}).items() if k not in shown}
