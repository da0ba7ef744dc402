"""The coordinator's roster room: the week and month grid, and the forms that change it
(shifts, rotations, overrides, time off, swap approvals, imports), each in the region's zone.

Views are thin: they read the form, turn local times into instants, call the roster domain,
audit, commit, and tell waiting cases that the roster changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select
from werkzeug.wrappers.response import Response

from garde.domain import STAFF, SwapStatus, Tier
from garde.errors import Conflict, InvalidInput, NotFound
from garde.models import (
    Expert,
    Override,
    Rotation,
    Shift,
    Site,
    SwapRequest,
    Unavailability,
    utcnow,
)
from garde.validation import Input, day, text, validated
from rosters.coverage import coverage
from rosters.ical import expert_feed_url, new_feed, region_feed_url, revoke_feed
from rosters.overrides import (
    create_override,
    create_unavailability,
    delete_override,
    delete_unavailability,
    uncovered_shifts,
)
from rosters.rotations import (
    DAYS,
    GenerationResult,
    create_rotation,
    delete_rotation,
    generate,
    rotation_input,
    update_rotation,
)
from rosters.shifts import create_shift, delete_shift, update_shift
from rosters.swaps import approve_swap, refuse_swap
from web import display, services
from web.access import current_user, roles
from web.audit import audit
from web.local_times import as_local_field, to_utc
from web.reasons import translated
from web.roster_changes import roster_changed
from web.roster_grid import gap_rows, period, roster_grid

bp = Blueprint("roster", __name__, url_prefix="/coordinator")
display.install(bp)
bp.add_app_template_global(as_local_field, "local_field")

SHIFT_TIMES = ("start", "end")
SITE_CODE = text(32, description="only this site's (its code)")


class GridQuery(Input):
    view: Literal["week", "month"] = "week"
    start: Annotated[date | None, day(description="a day of the week or month shown")] = None
    site: Annotated[str | None, SITE_CODE] = None


class ExtendForm(Input):
    until: Annotated[date, day(description="the rotations' new last day")]


class FeedForm(Input):
    expert: Annotated[str | None, text(32, description="the expert's code; none: the region")] = (
        None
    )


def region_zone() -> ZoneInfo:
    """The zone the coordinator's pages speak in (GARDE_REGION_TIMEZONE)."""
    return display.zone(services().settings.region_timezone)


def local_day(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).date().isoformat()


@bp.get("/roster")
@roles(*STAFF)
def grid() -> str:
    zone = region_zone()
    now = utcnow()
    today = now.astimezone(zone).date()
    query = validated(GridQuery, request.args)
    site = site_arg(query.site)
    shown = period(query.view, query.start or today, zone)
    site_id = site.id if site else None
    return render_template(
        "coordinator/roster.html",
        grid=roster_grid(g.db, shown, now, site_id),
        gaps=gap_rows(coverage(g.db, shown.start, shown.end, site_id), shown, now),
        sites=g.db.scalars(select(Site).order_by(Site.code)).all(),
        site=site,
        zone=zone,
    )


@bp.route("/shifts/new", methods=["GET", "POST"])
@roles(*STAFF)
def new_shift() -> str | Response | tuple[str, int]:
    zone = region_zone()
    if request.method == "GET":
        return _shift_form(None, request.args.to_dict())
    values = request.form.to_dict()
    data, errors = to_utc(values, SHIFT_TIMES, zone)
    if errors:
        return _shift_form(None, values, errors), 400
    try:
        shift = create_shift(g.db, data)
    except InvalidInput as e:
        g.db.rollback()
        return _shift_form(None, values, e.fields), 400
    audit("shift.create", f"shift:{shift.id}", f"{shift.expert.code} {shift.tier}")
    roster_changed("shift added")
    flash(_("Shift added for %(name)s.", name=shift.expert.name), "info")
    return redirect(url_for("roster.grid", start=local_day(shift.start, zone)))


@bp.route("/shifts/<int:shift_id>", methods=["GET", "POST"])
@roles(*STAFF)
def edit_shift(shift_id: int) -> str | Response | tuple[str, int]:
    zone = region_zone()
    shift = shift_or_404(shift_id)
    if request.method == "GET":
        return _shift_form(shift, shift_values(shift, zone))
    values = request.form.to_dict()
    data, errors = to_utc(values, SHIFT_TIMES, zone)
    if errors:
        return _shift_form(shift, values, errors), 400
    try:
        update_shift(g.db, shift, data)
    except InvalidInput as e:
        g.db.rollback()
        return _shift_form(shift_or_404(shift_id), values, e.fields), 400
    except Conflict as e:
        g.db.rollback()
        flash(_("Not changed: %(reason)s.", reason=translated(e.message)), "error")
        return redirect(url_for("roster.edit_shift", shift_id=shift_id))
    audit("shift.update", f"shift:{shift.id}", f"{shift.expert.code} {shift.tier}")
    roster_changed("shift changed")
    flash(_("Shift of %(name)s saved.", name=shift.expert.name), "info")
    return redirect(url_for("roster.grid", start=local_day(shift.start, zone)))


@bp.post("/shifts/<int:shift_id>/delete")
@roles(*STAFF)
def remove_shift(shift_id: int) -> Response:
    zone = region_zone()
    shift = shift_or_404(shift_id)
    day, name = local_day(shift.start, zone), shift.expert.name
    try:
        delete_shift(g.db, shift)
    except Conflict as e:
        flash(_("Not deleted: %(reason)s.", reason=translated(e.message)), "error")
        return redirect(url_for("roster.edit_shift", shift_id=shift_id))
    audit("shift.delete", f"shift:{shift_id}", shift.expert.code)
    roster_changed("shift deleted")
    flash(_("Shift of %(name)s deleted.", name=name), "info")
    return redirect(url_for("roster.grid", start=day))


def _shift_form(
    shift: Shift | None, values: Mapping[str, Any], errors: dict[str, str] | None = None
) -> str:
    return render_template(
        "coordinator/shift_form.html",
        shift=shift,
        values=values,
        errors=errors or {},
        experts=active_experts(),
        tiers=[t.value for t in Tier],
        zone=region_zone(),
    )


def site_arg(code: str | None) -> Site | None:
    """The site a page is filtered by (`site`, a code), if any."""
    if code is None:
        return None
    site = g.db.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise InvalidInput({"site": f"no site has the code {code}"})
    return site


def shift_values(shift: Shift, zone: ZoneInfo) -> dict[str, str]:
    """A stored shift as its form shows it: local times in the region's zone."""
    return {
        "expert": shift.expert.code,
        "tier": shift.tier,
        "start": as_local_field(shift.start, zone),
        "end": as_local_field(shift.end, zone),
    }


def shift_or_404(shift_id: int) -> Shift:
    shift = g.db.get(Shift, shift_id)
    if shift is None:
        raise NotFound(f"no shift {shift_id}")
    return shift


@bp.get("/rotations")
@roles(*STAFF)
def rotations() -> str:
    """The rotations, and extending them all; by default until the end of next month."""
    this_month = period("month", utcnow().astimezone(region_zone()).date(), region_zone())
    next_month = period("month", this_month.next, region_zone())
    return _rotations_page({"until": next_month.last.isoformat()})


def _rotations_page(values: Mapping[str, Any], errors: dict[str, str] | None = None) -> str:
    found = g.db.scalars(select(Rotation).order_by(Rotation.valid_from, Rotation.name)).all()
    experts = dict(g.db.execute(select(Expert.id, Expert.name)).tuples().all())
    return render_template(
        "coordinator/rotations.html",
        rotations=found,
        experts=experts,
        values=values,
        errors=errors or {},
    )


@bp.post("/rotations/extend")
@roles(*STAFF)
def extend_rotations() -> str | Response | tuple[str, int]:
    """Every rotation ending before `until` now runs until then: next month's roster in one
    step. Each is regenerated as its own form would; one refusal changes nothing."""
    now = utcnow()
    values = request.form.to_dict()
    try:
        until = validated(ExtendForm, values).until
        if until < now.astimezone(region_zone()).date():
            raise InvalidInput({"until": "must be today or later"})
    except InvalidInput as e:
        return _rotations_page(values, e.fields), 400
    shorter = g.db.scalars(
        select(Rotation).where(Rotation.valid_until < until).order_by(Rotation.name)
    ).all()
    results = []
    for rotation in shorter:
        try:
            results.append(update_rotation(g.db, rotation, {"until": until.isoformat()}, now))
        except InvalidInput as e:
            name = rotation.name
            g.db.rollback()
            reasons = "; ".join(
                reason if field == "until" else f"{field} {reason}"
                for field, reason in e.fields.items()
            )
            return _rotations_page(values, {"until": f"for rotation {name}: {reasons}"}), 400
    total = GenerationResult(
        sum(r.created for r in results),
        sum(r.updated for r in results),
        sum(r.deleted for r in results),
        sum(r.kept for r in results),
    )
    summary = f"{len(shorter)} rotations extended until {until.isoformat()}: {_generated(total)}"
    audit("rotation.extend", "rotations", summary)
    roster_changed("rotations extended")
    extended = ngettext(
        "%(num)d rotation extended until %(day)s: %(generated)s.",
        "%(num)d rotations extended until %(day)s: %(generated)s.",
        len(shorter),
        day=until.isoformat(),
        generated=_generated_shown(total),
    )
    flash(extended, "info")
    return redirect(url_for("roster.rotations"))


@bp.route("/rotations/new", methods=["GET", "POST"])
@roles(*STAFF)
def new_rotation() -> str | Response | tuple[str, int]:
    if request.method == "GET":
        return _rotation_form(None, {"timezone": region_zone().key, "handoff_every_days": "7"})
    values = _rotation_values()
    try:
        rotation = create_rotation(g.db, values)
        result = generate(g.db, rotation, utcnow())
    except InvalidInput as e:
        g.db.rollback()
        return _rotation_form(None, values, e.fields), 400
    audit("rotation.create", f"rotation:{rotation.id}", rotation.name)
    roster_changed("rotation added")
    flash(
        _(
            "Rotation %(name)s added: %(generated)s.",
            name=rotation.name,
            generated=_generated_shown(result),
        ),
        "info",
    )
    return redirect(url_for("roster.rotations"))


@bp.route("/rotations/<int:rotation_id>", methods=["GET", "POST"])
@roles(*STAFF)
def edit_rotation(rotation_id: int) -> str | Response | tuple[str, int]:
    rotation = _rotation_or_404(rotation_id)
    if request.method == "GET":
        return _rotation_form(rotation, rotation_input(g.db, rotation))
    values = _rotation_values()
    try:
        result = update_rotation(g.db, rotation, values, utcnow())
    except InvalidInput as e:
        g.db.rollback()
        return _rotation_form(_rotation_or_404(rotation_id), values, e.fields), 400
    audit("rotation.update", f"rotation:{rotation.id}", _generated(result))
    roster_changed("rotation changed")
    flash(
        _(
            "Rotation %(name)s saved; from now on: %(generated)s.",
            name=rotation.name,
            generated=_generated_shown(result),
        ),
        "info",
    )
    return redirect(url_for("roster.rotations"))


@bp.post("/rotations/<int:rotation_id>/generate")
@roles(*STAFF)
def generate_rotation(rotation_id: int) -> Response:
    rotation = _rotation_or_404(rotation_id)
    try:
        result = generate(g.db, rotation, utcnow())
    except InvalidInput as e:
        g.db.rollback()
        flash(_("Not generated: %(reasons)s.", reasons="; ".join(e.fields.values())), "error")
        return redirect(url_for("roster.rotations"))
    audit("rotation.generate", f"rotation:{rotation.id}", _generated(result))
    roster_changed("rotation generated")
    flash(
        _(
            "Rotation %(name)s generated: %(generated)s.",
            name=rotation.name,
            generated=_generated_shown(result),
        ),
        "info",
    )
    return redirect(url_for("roster.rotations"))


@bp.post("/rotations/<int:rotation_id>/delete")
@roles(*STAFF)
def remove_rotation(rotation_id: int) -> Response:
    rotation = _rotation_or_404(rotation_id)
    name = rotation.name
    deleted = delete_rotation(g.db, rotation, utcnow())
    audit("rotation.delete", f"rotation:{rotation_id}", name)
    roster_changed("rotation deleted")
    flash(
        ngettext(
            "Rotation %(name)s deleted with its %(num)d future shift.",
            "Rotation %(name)s deleted with its %(num)d future shifts.",
            deleted,
            name=name,
        ),
        "info",
    )
    return redirect(url_for("roster.rotations"))


def _rotation_values() -> dict[str, Any]:
    """The form as the domain reads it: `days` is the list of ticked boxes, `experts` the
    codes as stored, however the coordinator cased them."""
    known = set(g.db.scalars(select(Expert.code)))
    folded = {c.casefold(): c for c in known}
    typed = [c.strip() for c in request.form.get("experts", "").split(",") if c.strip()]
    return {
        **request.form.to_dict(),
        "days": request.form.getlist("days"),
        "experts": ", ".join(c if c in known else folded.get(c.casefold(), c) for c in typed),
    }


def _rotation_form(
    rotation: Rotation | None, values: Mapping[str, Any], errors: dict[str, str] | None = None
) -> str:
    shown = dict(values)
    if isinstance(shown.get("experts"), list):
        shown["experts"] = ", ".join(shown["experts"])
    return render_template(
        "coordinator/rotation_form.html",
        rotation=rotation,
        values=shown,
        errors=errors or {},
        experts=active_experts(),
        days=DAYS,
        tiers=[t.value for t in Tier],
    )


def _rotation_or_404(rotation_id: int) -> Rotation:
    rotation = g.db.get(Rotation, rotation_id)
    if rotation is None:
        raise NotFound(f"no rotation {rotation_id}")
    return rotation


def _generated(result: GenerationResult) -> str:
    """What a generation did, for the audit log (in English, as every audit entry)."""
    return (
        f"{result.created} shifts created, {result.updated} moved, {result.deleted} removed, "
        f"{result.kept} kept"
    )


def _generated_shown(result: GenerationResult) -> str:
    """What a generation did, for the coordinator, in the page's language."""
    return _(
        "%(created)s shifts created, %(updated)s moved, %(deleted)s removed, %(kept)s kept",
        created=result.created,
        updated=result.updated,
        deleted=result.deleted,
        kept=result.kept,
    )


@bp.route("/overrides", methods=["GET", "POST"])
@roles(*STAFF)
def overrides() -> str | Response | tuple[str, int]:
    """Who replaces whom, from now on, and the form to add one."""
    zone = region_zone()
    if request.method == "GET":
        return _overrides_page({})
    values = request.form.to_dict()
    data, errors = to_utc(values, SHIFT_TIMES, zone)
    if errors:
        return _overrides_page(values, errors), 400
    try:
        override = create_override(g.db, data, current_user())
    except InvalidInput as e:
        g.db.rollback()
        return _overrides_page(values, e.fields), 400
    audit(
        "override.create", f"override:{override.id}", f"{values['expert']} for {values['replaces']}"
    )
    roster_changed("override added")
    flash(
        _("%(name)s replaces %(other)s.", name=override.expert.name, other=override.replaces.name),
        "info",
    )
    return redirect(url_for("roster.grid", start=local_day(override.start, zone)))


@bp.post("/overrides/<int:override_id>/delete")
@roles(*STAFF)
def remove_override(override_id: int) -> Response:
    override = g.db.get(Override, override_id)
    if override is None:
        raise NotFound(f"no override {override_id}")
    delete_override(g.db, override, current_user())
    audit("override.delete", f"override:{override_id}")
    roster_changed("override deleted")
    flash(_("Override deleted: the roster is back as it was."), "info")
    return redirect(url_for("roster.overrides"))


@bp.route("/unavailability", methods=["GET", "POST"])
@roles(*STAFF)
def unavailability() -> str | Response | tuple[str, int]:
    """Leave and sickness, from now on, and the form to add some."""
    zone = region_zone()
    if request.method == "GET":
        return _unavailability_page({})
    values = request.form.to_dict()
    data, errors = to_utc(values, SHIFT_TIMES, zone)
    if errors:
        return _unavailability_page(values, errors), 400
    try:
        off = create_unavailability(g.db, data, current_user())
    except InvalidInput as e:
        g.db.rollback()
        return _unavailability_page(values, e.fields), 400
    uncovered = uncovered_shifts(g.db, off)
    audit("unavailability.create", f"unavailability:{off.id}", off.expert.code)
    roster_changed("unavailability added")
    flash(
        ngettext(
            "%(name)s is off; %(num)d of their shifts now shows as a gap.",
            "%(name)s is off; %(num)d of their shifts now show as gaps.",
            len(uncovered),
            name=off.expert.name,
        ),
        "warning" if uncovered else "info",
    )
    return redirect(url_for("roster.grid", start=local_day(off.start, zone)))


@bp.post("/unavailability/<int:unavailability_id>/delete")
@roles(*STAFF)
def remove_unavailability(unavailability_id: int) -> Response:
    off = g.db.get(Unavailability, unavailability_id)
    if off is None:
        raise NotFound(f"no unavailability {unavailability_id}")
    delete_unavailability(g.db, off, current_user())
    audit("unavailability.delete", f"unavailability:{unavailability_id}")
    roster_changed("unavailability deleted")
    flash(_("Unavailability deleted."), "info")
    return redirect(url_for("roster.unavailability"))


def _overrides_page(values: Mapping[str, Any], errors: dict[str, str] | None = None) -> str:
    now = utcnow()
    rows = g.db.scalars(select(Override).where(Override.end > now).order_by(Override.start)).all()
    return render_template(
        "coordinator/overrides.html",
        overrides=rows,
        experts=active_experts(),
        values=values,
        errors=errors or {},
        zone=region_zone(),
    )


def _unavailability_page(values: Mapping[str, Any], errors: dict[str, str] | None = None) -> str:
    now = utcnow()
    rows = g.db.scalars(
        select(Unavailability).where(Unavailability.end > now).order_by(Unavailability.start)
    ).all()
    return render_template(
        "coordinator/unavailability.html",
        periods=rows,
        experts=active_experts(),
        values=values,
        errors=errors or {},
        zone=region_zone(),
    )


def active_experts() -> list[Expert]:
    return list(
        g.db.scalars(
            select(Expert).where(Expert.active.is_(True)).order_by(Expert.name, Expert.code)
        )
    )


@bp.get("/swaps")
@roles(*STAFF)
def swaps() -> str:
    open_swaps = g.db.scalars(
        select(SwapRequest)
        .where(SwapRequest.status.in_([SwapStatus.PENDING.value, SwapStatus.ACCEPTED.value]))
        .order_by(SwapRequest.created_at)
    ).all()
    return render_template(
        "coordinator/swaps.html",
        swaps=open_swaps,
        needs_approval=services().settings.swap_needs_approval,
        zone=region_zone(),
    )


@bp.post("/swaps/<int:swap_id>/<any(approve, refuse):decision>")
@roles(*STAFF)
def decide_swap(swap_id: int, decision: str) -> Response:
    swap = g.db.get(SwapRequest, swap_id)
    if swap is None:
        raise NotFound(f"no swap request {swap_id}")
    decide = approve_swap if decision == "approve" else refuse_swap
    try:
        decide(g.db, swap, current_user(), utcnow())
    except (Conflict, InvalidInput) as e:
        g.db.rollback()
        not_done = (
            _("Swap %(id)s not approved: %(reason)s.", id=swap_id, reason=translated(e.message))
            if decision == "approve"
            else _("Swap %(id)s not refused: %(reason)s.", id=swap_id, reason=translated(e.message))
        )
        flash(not_done, "error")
        return redirect(url_for("roster.swaps"))
    audit(f"swap.{decision}", f"swap:{swap_id}")
    g.db.commit()
    if decision == "approve":
        roster_changed("swap applied")
    done = (
        _("Swap %(id)s approved.", id=swap_id)
        if decision == "approve"
        else _("Swap %(id)s refused.", id=swap_id)
    )
    flash(done, "info")
    return redirect(url_for("roster.swaps"))


@bp.get("/feeds")
@roles(*STAFF)
def feeds() -> str:
    """Every expert's secret calendar link, and the region's, made and revoked here."""
    base = services().settings.public_url
    experts = active_experts()
    return render_template(
        "coordinator/feeds.html",
        experts=[(e, expert_feed_url(g.db, e, base)) for e in experts],
        region_url=region_feed_url(g.db, base),
    )


@bp.post("/feeds/<any(new, revoke):action>")
@roles(*STAFF)
def change_feed(action: str) -> Response:
    """`expert` (a code) or none for the region's feed: a new link replaces the old one."""
    code = validated(FeedForm, request.form).expert or ""
    expert = g.db.scalar(select(Expert).where(Expert.code == code)) if code else None
    if code and expert is None:
        raise NotFound(f"no expert has the code {code}")
    if action == "new":
        new_feed(g.db, expert)
    else:
        revoke_feed(g.db, expert)
    audit(f"feed.{action}", f"expert:{code}" if code else "region")
    g.db.commit()
    whose = expert.name if expert else _("the region")
    done = (
        _("Calendar link of %(whose)s made.", whose=whose)
        if action == "new"
        else _("Calendar link of %(whose)s revoked.", whose=whose)
    )
    flash(done, "info")
    return redirect(url_for("roster.feeds"))
