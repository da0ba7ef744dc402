"""The coordinators' billing pages: what was billed over months (totals by site, modality,
time band and month, drawn as SVG on the server), the invoices with their PDF and CSV and, for
an admin, issuing a month's; and a site's tariff, its versions, a form adding one and a week
of prices previewed hour by hour on the site's clock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale, lazy_gettext
from flask_babel import gettext as _
from pydantic import AfterValidator, Field
from sqlalchemy import select
from werkzeug.wrappers.response import Response

from billing.analytics import BANDS, Billed, Totals, billing_totals, months_between, percent
from billing.calendar import holiday_names
from billing.pricing import NoPrice, Quote, quote
from billing.tariffs import in_force_on, local_today
from garde.domain import STAFF, Priority, Role
from garde.errors import InvalidInput
from garde.models import BillingLine, Invoice, Site, Tariff, utcnow
from garde.validation import Input, choice, day, text, validated
from web import display, services
from web.access import current_user, roles
from web.audit import audit
from web.billing_charts import HEIGHT, band_segments, month_columns
from web.roster_pages import SITE_CODE, region_zone, site_arg

bp = Blueprint("billing_pages", __name__, url_prefix="/coordinator")
display.install(bp)

DEFAULT_MONTHS = 12  # ending with this month
LONGEST = 36  # months
LATEST_LINES = 20
MAX_INVOICES = 500

SURCHARGE_BANDS = ("night", "sunday", "holiday", "stat")
BAND_WORDS = {
    "day": lazy_gettext("Day"),
    "night": lazy_gettext("Night"),
    "sunday": lazy_gettext("Sunday"),
    "holiday": lazy_gettext("Public holiday"),
    "stat": lazy_gettext("Stat"),
}
PRICED_AT_WORDS = {
    "acceptance": lazy_gettext("at acceptance"),
    "final": lazy_gettext("at the final report"),
}
CALENDAR_WORDS = {
    "FR": lazy_gettext("France"),
    "FR-Alsace-Moselle": lazy_gettext("France, Alsace-Moselle"),
}


def _month(raw: str) -> str:
    try:
        start = datetime.strptime(raw, "%Y-%m")
    except ValueError:
        raise ValueError("must be YYYY-MM") from None
    if not 1900 <= start.year <= 2200 or raw != start.strftime("%Y-%m"):
        raise ValueError("must be YYYY-MM")
    return raw


MONTH = (text(7), AfterValidator(lambda v: v if v is None else _month(v)))


class BillingQuery(Input):
    """Months of the sites' calendars, `from` to `to` included, and a site's code."""

    from_: Annotated[str | None, *MONTH] = Field(None, alias="from")
    to: Annotated[str | None, *MONTH] = None
    site: Annotated[str | None, SITE_CODE] = None


class IssueForm(Input):
    month: Annotated[str, *MONTH]
    site: Annotated[str | None, SITE_CODE] = None


class WeekQuery(Input):
    week: Annotated[date | None, day(description="a day of the week shown")] = None
    modality: Annotated[str | None, text(16)] = None
    priority: Annotated[Priority, choice()] = Priority.URGENT


def shift_month(month: str, by: int) -> str:
    year, number = map(int, month.split("-"))
    index = year * 12 + number - 1 + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True)
class Period:
    first: str
    last: str
    site: Site | None


def _period(args: Any) -> Period:
    query = validated(BillingQuery, args)
    this_month = utcnow().astimezone(region_zone()).strftime("%Y-%m")
    last = query.to or (shift_month(query.from_, DEFAULT_MONTHS - 1) if query.from_ else this_month)
    first = query.from_ or shift_month(last, -(DEFAULT_MONTHS - 1))
    if first > last:
        raise InvalidInput({"to": "must be on or after from"})
    if len(months_between(first, last)) > LONGEST:
        raise InvalidInput({"to": f"must be at most {LONGEST} months after from"})
    return Period(first, last, site_arg(query.site))


def _lines(period: Period) -> list[Billed]:
    """The lines that may fall in the months on some site's clock: a day's margin around the
    months in UTC, the exact cut left to billing.analytics."""
    start = datetime.strptime(period.first, "%Y-%m").replace(tzinfo=UTC) - timedelta(days=1)
    end = datetime.strptime(shift_month(period.last, 1), "%Y-%m").replace(tzinfo=UTC) + timedelta(
        days=1
    )
    query = (
        select(
            Site.code,
            Site.timezone,
            BillingLine.kind,
            BillingLine.modality,
            BillingLine.time_band,
            BillingLine.priced_at,
            BillingLine.amount_cents,
            BillingLine.expert_share_cents,
            BillingLine.currency,
        )
        .join(Site, Site.id == BillingLine.site_id)
        .where(BillingLine.priced_at >= start, BillingLine.priced_at < end)
    )
    if period.site is not None:
        query = query.where(BillingLine.site_id == period.site.id)
    return [Billed(*row) for row in g.db.execute(query)]


def _page(
    period: Period | None,
    values: dict[str, str],
    errors: dict[str, str],
    issue_values: dict[str, str] | None = None,
    issue_errors: dict[str, str] | None = None,
) -> str:
    sites = g.db.scalars(select(Site).order_by(Site.code)).all()
    last_month = shift_month(utcnow().astimezone(region_zone()).strftime("%Y-%m"), -1)
    context: dict[str, Any] = {
        "sites": sites,
        "values": values,
        "errors": errors,
        "issue_values": issue_values or {"month": last_month, "site": values.get("site", "")},
        "issue_errors": issue_errors or {},
        "may_issue": current_user().role == Role.ADMIN,
        "period": period,
        "bands": BANDS,
        "band_word": lambda b: str(BAND_WORDS.get(b, b)),
        "month_name": lambda m, pattern="LLLL y": display.day(
            date.fromisoformat(f"{m}-01"), pattern
        ),
        "as_is": lambda k: k,
        "percent": percent,
        "chart_height": HEIGHT,
        "month_columns": month_columns,
        "band_segments": band_segments,
    }
    if period is not None:
        months = months_between(period.first, period.last)
        found: list[Totals] = billing_totals(_lines(period), period.first, period.last)
        invoices = select(Invoice).where(Invoice.month.in_(months))
        lines = select(BillingLine).order_by(BillingLine.priced_at.desc()).limit(LATEST_LINES)
        if period.site is not None:
            invoices = invoices.where(Invoice.site_id == period.site.id)
            lines = lines.where(BillingLine.site_id == period.site.id)
        context |= {
            "found": found,
            "invoices": g.db.scalars(
                invoices.order_by(Invoice.month.desc(), Invoice.number.desc()).limit(MAX_INVOICES)
            ).all(),
            "latest": g.db.scalars(lines).all(),
        }
    return render_template("billing/billing.html", **context)


@bp.get("/billing")
@roles(*STAFF)
def billing() -> str | tuple[str, int]:
    values = request.args.to_dict()
    try:
        period = _period(request.args)
    except InvalidInput as e:
        return _page(None, values, e.fields), 400
    values = {"from": period.first, "to": period.last, "site": values.get("site", "")}
    return _page(period, values, {})


@bp.post("/billing/invoices")
@roles(Role.ADMIN)
def issue() -> Response | tuple[str, int]:
    """Issue the month's invoices by hand (the schedule does it on the 1st): the sites whose
    month is over and not yet invoiced."""
    from billing.invoicing import issue_month

    values = {k: request.form.get(k, "") for k in ("month", "site")}
    try:
        form = validated(IssueForm, values)
        site_arg(form.site)
        issued = issue_month(
            services().sessions,
            form.month,
            by=current_user().username,
            site_code=form.site,
            region_timezone=services().settings.region_timezone,
        )
    except InvalidInput as e:
        g.db.rollback()
        month = values["month"] if not e.fields.get("month") else None
        period = Period(shift_month(month, -(DEFAULT_MONTHS - 1)), month, None) if month else None
        shown = {"from": period.first, "to": period.last} if period else {}
        return _page(period, shown, {}, values, e.fields), 400
    numbers = ", ".join(i.number for i in issued)
    audit("invoices.issue", f"month:{form.month}", numbers or "none")
    g.db.commit()
    if issued:
        flash(
            _(
                "%(count)s invoices issued for %(month)s: %(numbers)s.",
                count=len(issued),
                month=form.month,
                numbers=numbers,
            ),
            "info",
        )
    else:
        flash(
            _(
                "No invoice to issue for %(month)s: every site with lines has its invoice.",
                month=form.month,
            ),
            "info",
        )
    return redirect(url_for(".billing", to=form.month, site=form.site or None))


# --- The tariff page -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One hour of the week preview: the price of a read at its start, or why none."""

    at: datetime | None  # None: the hour does not exist that day (clocks go forward)
    quote: Quote | None
    band: str


@dataclass(frozen=True)
class PreviewDay:
    day: date
    holiday: str | None
    tariff: Tariff | None


def _site(code: str) -> Site:
    site = g.db.scalar(select(Site).where(Site.code == code))
    if site is None:
        from garde.errors import NotFound

        raise NotFound(f"no site {code}")
    return site


def _modalities(site: Site) -> list[str]:
    """The modalities the site's versions price, CT first (most of a night's reads)."""
    found = {m for t in site.tariffs for m in t.base_cents if m != "default"}
    return sorted(found, key=lambda m: (m != "CT", m)) or ["CT"]


def week_preview(
    site: Site, monday: date, modality: str, priority: str, language: str
) -> tuple[list[PreviewDay], list[list[Cell]]]:
    """Seven days from `monday` on the site's clock, and for each hour a row of seven cells
    priced by the version in force that day."""
    zone = display.zone(site.timezone)
    days = [monday + timedelta(days=i) for i in range(7)]
    names: dict[date, str] = {}
    shown = []
    for d in days:
        tariff = in_force_on(site.tariffs, d)
        if tariff is not None and d.year not in {n.year for n in names}:
            names |= holiday_names(tariff.terms().holidays, d.year, language)
        shown.append(PreviewDay(d, names.get(d) if tariff else None, tariff))
    rows: list[list[Cell]] = []
    for hour in range(24):
        row = []
        for shown_day in shown:
            local = datetime.combine(shown_day.day, time(hour), tzinfo=zone)
            at = local.astimezone(UTC)
            if at.astimezone(zone).hour != hour:
                row.append(Cell(None, None, "none"))
                continue
            priced = None
            if shown_day.tariff is not None:
                try:
                    priced = quote(
                        shown_day.tariff.terms(),
                        modality=modality,
                        priority=priority,
                        at=at,
                        timezone=site.timezone,
                    )
                except NoPrice:
                    priced = None
            row.append(Cell(at, priced, priced.time_band if priced else "none"))
        rows.append(row)
    return shown, rows


def _tariff_page(
    site: Site,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> str:
    query_values = request.args.to_dict()
    query_errors: dict[str, str] = {}
    try:
        week = validated(WeekQuery, request.args)
    except InvalidInput as e:
        query_errors = e.fields
        week = WeekQuery()
    today = local_today(site.timezone)
    chosen = week.week or today
    monday = chosen - timedelta(days=chosen.weekday())
    modalities = _modalities(site)
    modality = week.modality or modalities[0]
    language = str(get_locale() or "en")
    days, rows = week_preview(site, monday, modality, str(week.priority), language)
    in_force = in_force_on(site.tariffs, today)
    return render_template(
        "billing/tariff.html",
        site=site,
        versions=sorted(site.tariffs, key=lambda t: t.version, reverse=True),
        in_force=in_force,
        values=values or _form_values(in_force, today),
        errors=errors or {},
        query={
            "week": query_values.get("week", monday.isoformat()),
            "modality": modality,
            "priority": str(week.priority),
        },
        query_errors=query_errors,
        modalities=modalities,
        days=days,
        rows=rows,
        monday=monday,
        previous_week=(monday - timedelta(days=7)).isoformat(),
        next_week=(monday + timedelta(days=7)).isoformat(),
        today=today,
        bands=BANDS,
        band_word=lambda b: str(BAND_WORDS.get(b, b)),
        priced_at_word=lambda v: str(PRICED_AT_WORDS.get(v, v)),
        calendar_word=lambda v: str(CALENDAR_WORDS.get(v, v)),
        calendars=CALENDAR_WORDS,
        priced_ats=PRICED_AT_WORDS,
        surcharge_bands=SURCHARGE_BANDS,
        form_fields=FORM_FIELDS,
    )


def _form_values(tariff: Tariff | None, today: date) -> dict[str, str]:
    """The form starts from the version in force, from tomorrow: one edits, not retypes."""
    values = {"valid_from": (today + timedelta(days=1)).isoformat()}
    if tariff is None:
        return values | {
            "currency": "EUR",
            "expert_share_percent": "70",
            "holidays": "FR",
            "night_start": "20:00",
            "night_end": "08:00",
            "priced_at": "acceptance",
        }
    values |= {
        "currency": tariff.currency,
        "base_cents": ", ".join(f"{k}={v}" for k, v in tariff.base_cents.items()),
        "exam_cents": ", ".join(f"{k}={v}" for k, v in tariff.exam_cents.items()),
        "expert_share_percent": str(tariff.expert_share_percent),
        "holidays": tariff.holidays,
        "night_start": tariff.night_start,
        "night_end": tariff.night_end,
        "priced_at": tariff.priced_at,
        "cancellation_cents": ""
        if tariff.cancellation_cents is None
        else str(tariff.cancellation_cents),
        "cumulative": "true" if tariff.cumulative else "",
    }
    for band, s in tariff.surcharges.items():
        if s.get("cents"):
            values[f"{band}_cents"] = str(s["cents"])
        if s.get("percent"):
            values[f"{band}_percent"] = str(s["percent"])
    return values


@bp.get("/sites/<code>/tariff")
@roles(*STAFF)
def tariff(code: str) -> str:
    return _tariff_page(_site(code))


@bp.post("/sites/<code>/tariff")
@roles(*STAFF)
def add_tariff(code: str) -> Response | tuple[str, int]:
    """A new version from the form, checked by billing.tariff_input: a wrong field is named
    beside it, and what was typed stays."""
    from billing.tariff_input import TariffInput, create_tariff

    site = _site(code)
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    data, problems = tariff_data(values)
    try:
        if problems:
            validated(TariffInput, data)  # the other fields' reasons, at once
            raise InvalidInput(problems)
        added = create_tariff(g.db, site, data, current_user().username)
    except InvalidInput as e:
        g.db.rollback()
        return _tariff_page(site, values, e.fields | problems), 400
    audit("tariff.add", f"site:{site.code}", f"version {added.version}")
    g.db.commit()
    flash(
        _(
            "Version %(version)s of the tariff added, in force from %(day)s.",
            version=added.version,
            day=display.day(added.valid_from),
        ),
        "info",
    )
    return redirect(url_for(".tariff", code=site.code))


# The form's fields: a reason for any other name is listed above the form.
FORM_FIELDS = frozenset(
    (
        "valid_from",
        "currency",
        "expert_share_percent",
        "base_cents",
        "exam_cents",
        "surcharge_cents",
        "surcharge_percent",
        "night_start",
        "night_end",
        "holidays",
        "priced_at",
        "cancellation_cents",
        *(f"{band}_{unit}" for band in SURCHARGE_BANDS for unit in ("cents", "percent")),
    )
)
AMOUNT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]*)\s*[=:]\s*([0-9]+)\s*$")


def tariff_data(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's text as billing.tariff_input reads a tariff: `CT=9000, MR=12000` as a map of
    cents, a band's amount and percentage in their maps, the box ticked as true. A field that
    cannot be read is named with why (translated here: no domain check says it)."""
    problems: dict[str, str] = {}
    data: dict[str, Any] = {
        k: values[k]
        for k in (
            "valid_from",
            "currency",
            "expert_share_percent",
            "holidays",
            "night_start",
            "night_end",
            "priced_at",
            "cancellation_cents",
        )
        if values.get(k, "").strip()
    }
    for name in ("base_cents", "exam_cents"):
        amounts: dict[str, int] = {}
        for part in re.split(r"[,;\n]", values.get(name, "")):
            if not part.strip():
                continue
            found = AMOUNT.match(part)
            if found is None:
                problems[name] = _("must read NAME=cents, separated by commas (e.g. CT=9000)")
                break
            amounts[found[1]] = int(found[2])
        if amounts or name == "base_cents":
            data[name] = amounts
    for unit in ("cents", "percent"):
        by_band: dict[str, int] = {}
        for band in SURCHARGE_BANDS:
            raw = values.get(f"{band}_{unit}", "").strip()
            if not raw:
                continue
            if not raw.isdigit():
                problems[f"{band}_{unit}"] = _("must be a whole number")
                continue
            by_band[band] = int(raw)
        data[f"surcharge_{unit}"] = by_band
    data["cumulative"] = values.get("cumulative") == "true"
    return data, problems
